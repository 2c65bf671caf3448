"""Clinical synonyms that word overlap cannot see: "HbA1c" and "A1C", "haemoglobin" and "hemoglobin".

Guidelines and the clinicians who question them name the same thing differently (abbreviation vs
full name, British vs American spelling, Chinese vs English). BM25 and the digest's term overlap
would otherwise miss the very passage that answers, so a question is expanded with the other
names of what it mentions, and single-word names share one canonical term.

Only unambiguous equivalences belong here: a wrong synonym retrieves wrong evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache, partial
from pathlib import Path
from types import MappingProxyType

from indexing.text import has_cjk

# Each group: names of one concept. Names of up to 4 characters in upper case (abbreviations)
# match case-sensitively as whole words so that "AF" never matches "af" inside ordinary text.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("HbA1c", "A1C", "hemoglobin A1c", "haemoglobin A1c", "glycated hemoglobin", "glycated haemoglobin",
     "glycosylated hemoglobin", "glycosylated haemoglobin", "糖化血红蛋白"),
    ("DOAC", "DOACs", "NOAC", "NOACs", "direct oral anticoagulant", "direct oral anticoagulants",
     "non-vitamin K antagonist oral anticoagulant", "新型口服抗凝药"),
    ("OAC", "oral anticoagulation", "oral anticoagulant", "口服抗凝"),
    ("VKA", "vitamin K antagonist", "维生素K拮抗剂"),
    ("AF", "atrial fibrillation", "房颤", "心房颤动"),
    ("HF", "heart failure", "心力衰竭", "心衰"),
    ("HFrEF", "heart failure with reduced ejection fraction", "射血分数降低的心衰"),
    ("HFpEF", "heart failure with preserved ejection fraction", "射血分数保留的心衰"),
    ("ARNI", "sacubitril/valsartan", "sacubitril-valsartan", "Entresto", "angiotensin receptor-neprilysin inhibitor"),
    # "the ejection fraction is 30%" is asked of passages that print "LVEF < 40%"
    ("LVEF", "EF", "ejection fraction", "left ventricular ejection fraction", "射血分数", "左室射血分数"),
    ("MI", "myocardial infarction", "heart attack", "心肌梗死"),
    ("STEMI", "ST-elevation myocardial infarction", "ST-elevation MI", "ST-segment elevation myocardial infarction", "ST段抬高型心肌梗死"),
    ("NSTEMI", "non-ST-elevation myocardial infarction", "non-ST-elevation MI", "非ST段抬高型心肌梗死"),
    ("ACS", "acute coronary syndrome", "急性冠脉综合征"),
    ("CKD", "chronic kidney disease", "慢性肾脏病"),
    ("AKI", "acute kidney injury", "急性肾损伤"),
    ("kidney", "renal", "肾脏"),  # "kidney failure" is "renal failure"
    ("VTE", "venous thromboembolism", "静脉血栓栓塞"),
    ("DVT", "deep vein thrombosis", "deep venous thrombosis", "深静脉血栓"),
    ("pulmonary embolism", "肺栓塞"),  # "PE" is also "physical examination"
    ("COPD", "chronic obstructive pulmonary disease", "chronic obstructive lung disease", "慢阻肺", "慢性阻塞性肺疾病"),
    ("CAP", "community-acquired pneumonia", "community acquired pneumonia", "社区获得性肺炎"),
    ("UTI", "urinary tract infection", "尿路感染"),
    ("BP", "blood pressure", "血压"),
    ("SpO2", "oxygen saturation", "O2 saturation", "血氧饱和度"),
    ("LDL-C", "LDL cholesterol", "low-density lipoprotein cholesterol", "低密度脂蛋白胆固醇"),
    ("T2DM", "type 2 diabetes", "type 2 diabetes mellitus", "2型糖尿病"),
    ("SGLT2i", "SGLT2 inhibitor", "SGLT2 inhibitors", "SGLT-2 inhibitor", "SGLT2抑制剂"),
    ("ACEi", "ACE inhibitor", "ACE inhibitors", "angiotensin-converting enzyme inhibitor", "ACEI"),
    ("ARB", "angiotensin receptor blocker", "angiotensin II receptor blocker", "血管紧张素受体拮抗剂"),
    ("TIA", "transient ischemic attack", "transient ischaemic attack", "短暂性脑缺血发作"),
    ("ICH", "intracerebral hemorrhage", "intracerebral haemorrhage", "脑出血"),
    ("SAH", "subarachnoid hemorrhage", "subarachnoid haemorrhage", "蛛网膜下腔出血"),
    ("DKA", "diabetic ketoacidosis", "糖尿病酮症酸中毒"),
    ("rheumatoid arthritis", "类风湿关节炎"),  # "RA" is also "right atrium"
    ("stroke", "脑卒中", "卒中"),
    ("hypertension", "high blood pressure", "高血压"),
    ("statin", "statins", "他汀"),
    ("sepsis", "脓毒症"),
    ("gout", "痛风"),
    ("ULT", "urate-lowering therapy", "urate lowering therapy", "urate-lowering", "降尿酸治疗"),
    ("osteoporosis", "骨质疏松"),
    ("septic shock", "脓毒性休克", "感染性休克"),
    ("serum urate", "血尿酸"),
    ("antibiotic", "antibiotics", "抗生素"),
    ("oral", "orally", "口服"),
    ("beta-blocker", "beta-blockers", "beta blocker", "beta blockers", "β受体阻滞剂", "β阻滞剂", "β-受体阻滞剂"),
    ("ICS", "inhaled corticosteroid", "inhaled corticosteroids", "inhaled steroid", "inhaled steroids", "吸入糖皮质激素"),
    ("basilar skull fracture", "basal skull fracture", "skull base fracture", "颅底骨折"),
    ("blood glucose", "plasma glucose", "血糖"),
    ("hypoglycemia", "hypoglycaemia", "低血糖"),
    ("hyperglycemia", "hyperglycaemia", "高血糖"),
    ("beta-hydroxybutyrate", "β-hydroxybutyrate", "β-羟丁酸", "β羟丁酸"),
    ("thrombolysis", "thrombolytic therapy", "溶栓"),
    ("anticoagulant", "anticoagulants", "抗凝药", "抗凝剂"),
    ("pneumonia", "肺炎"),
    ("asthma", "哮喘"),
    ("pancreatitis", "胰腺炎"),
    ("burn", "burns", "烧伤"),
    ("depression", "抑郁症", "抑郁"),
    ("endocarditis", "心内膜炎"),
    ("meningitis", "脑膜炎"),
    # Drug names in Chinese, so that a Chinese question finds an English guideline's regimen
    ("warfarin", "华法林"),
    ("aspirin", "阿司匹林"),
    ("clopidogrel", "氯吡格雷"),
    ("apixaban", "阿哌沙班"),
    ("rivaroxaban", "利伐沙班"),
    ("dabigatran", "达比加群"),
    ("metformin", "二甲双胍"),
    ("insulin", "胰岛素"),
    ("allopurinol", "别嘌醇"),
    ("nimodipine", "尼莫地平"),
    ("heparin", "肝素"),
    ("fluoxetine", "氟西汀"),
    ("naloxone", "纳洛酮"),
    ("vitamin K", "维生素K"),
    ("alteplase", "tPA", "rtPA", "rt-PA", "tissue plasminogen activator", "阿替普酶"),
    # British and American spellings of the same word
    ("haemoglobin", "hemoglobin"),
    ("anaemia", "anemia"),
    ("oedema", "edema"),
    ("haemorrhage", "hemorrhage"),
    ("ischaemic", "ischemic"),
    ("ischaemia", "ischemia"),
    ("paediatric", "pediatric"),
    ("anaesthesia", "anesthesia"),
    ("oesophageal", "esophageal"),
    ("leukaemia", "leukemia"),
    ("diarrhoea", "diarrhea"),
    ("haematuria", "hematuria"),
    ("oestrogen", "estrogen"),
    ("tumour", "tumor"),
    ("randomised", "randomized"),
)


# Drug classes and their members: (names of the class, its members). Not synonyms: a class and
# one of its drugs are not the same thing, so they are never folded into one term (a question on
# atorvastatin must not count a simvastatin sentence as naming its drug). They only let a class in
# the question meet a passage that names members ("DOAC" -> "apixaban ... rivaroxaban") and a
# member in the question meet the class recommendation ("atorvastatin" -> "statin"). Members are
# the common generic names in the guidelines of the demo corpus and in everyday prescribing.
DRUG_CLASSES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("DOAC", "DOACs", "NOAC", "NOACs", "direct oral anticoagulant", "direct oral anticoagulants"),
     ("apixaban", "rivaroxaban", "edoxaban", "dabigatran")),
    (("statin", "statins"),
     ("atorvastatin", "rosuvastatin", "simvastatin", "pravastatin", "lovastatin", "fluvastatin", "pitavastatin")),
    (("ACE inhibitor", "ACE inhibitors", "ACEi", "ACEI", "angiotensin-converting enzyme inhibitor"),
     ("lisinopril", "enalapril", "ramipril", "perindopril", "captopril", "benazepril", "quinapril", "trandolapril")),
    (("ARB", "ARBs", "angiotensin receptor blocker", "angiotensin receptor blockers", "angiotensin II receptor blocker"),
     ("losartan", "valsartan", "candesartan", "irbesartan", "olmesartan", "telmisartan")),
    (("SGLT2 inhibitor", "SGLT2 inhibitors", "SGLT2i", "SGLT-2 inhibitor"),
     ("empagliflozin", "dapagliflozin", "canagliflozin", "ertugliflozin", "sotagliflozin")),
    (("beta-blocker", "beta-blockers", "beta blocker", "beta blockers"),
     ("metoprolol", "bisoprolol", "carvedilol", "atenolol", "propranolol", "nadolol", "nebivolol", "esmolol", "labetalol")),
    (("PPI", "PPIs", "proton pump inhibitor", "proton pump inhibitors"),
     ("omeprazole", "esomeprazole", "pantoprazole", "lansoprazole", "rabeprazole")),
    (("NSAID", "NSAIDs", "nonsteroidal anti-inflammatory drug", "nonsteroidal anti-inflammatory drugs"),
     ("ibuprofen", "naproxen", "diclofenac", "indomethacin", "celecoxib", "ketorolac", "meloxicam")),
    (("loop diuretic", "loop diuretics"), ("furosemide", "bumetanide", "torsemide")),
    (("thiazide", "thiazides", "thiazide diuretic", "thiazide-like diuretic"), ("hydrochlorothiazide", "chlorthalidone", "indapamide")),
    (("calcium channel blocker", "calcium channel blockers", "CCB", "CCBs"),
     ("amlodipine", "nifedipine", "felodipine", "diltiazem", "verapamil")),
    (("GLP-1 receptor agonist", "GLP-1 receptor agonists", "GLP-1 RA", "GLP-1 RAs"),
     ("liraglutide", "semaglutide", "dulaglutide", "exenatide")),
    (("SSRI", "SSRIs", "selective serotonin reuptake inhibitor"),
     ("sertraline", "fluoxetine", "citalopram", "escitalopram", "paroxetine", "fluvoxamine")),
    (("LMWH", "low-molecular-weight heparin", "low molecular weight heparin"), ("enoxaparin", "dalteparin", "tinzaparin")),
    (("VKA", "VKAs", "vitamin K antagonist", "vitamin K antagonists"), ("warfarin", "acenocoumarol", "phenprocoumon")),
    (("anti-staphylococcal penicillin", "anti-staphylococcal penicillins", "antistaphylococcal penicillin"),
     ("nafcillin", "oxacillin", "flucloxacillin", "cloxacillin", "dicloxacillin")),
    (("P2Y12 inhibitor", "P2Y12 inhibitors"), ("clopidogrel", "ticagrelor", "prasugrel")),
    (("fluoroquinolone", "fluoroquinolones"), ("ciprofloxacin", "levofloxacin", "moxifloxacin")),
    (("macrolide", "macrolides"), ("azithromycin", "clarithromycin", "erythromycin")),
    (("cephalosporin", "cephalosporins"), ("ceftriaxone", "cefotaxime", "cefepime", "ceftazidime", "cefazolin", "cefuroxime")),
    (("carbapenem", "carbapenems"), ("meropenem", "imipenem", "ertapenem")),
    (("bisphosphonate", "bisphosphonates"), ("alendronate", "risedronate", "ibandronate", "zoledronic acid")),
    (("csDMARD", "csDMARDs"), ("methotrexate", "sulfasalazine", "hydroxychloroquine", "leflunomide")),
    (("benzodiazepine", "benzodiazepines"), ("lorazepam", "diazepam", "chlordiazepoxide", "midazolam")),
    (("SABA", "SABAs", "short-acting beta-agonist", "short-acting beta2-agonist", "short-acting beta-2 agonist"),
     ("salbutamol", "albuterol", "levalbuterol", "terbutaline")),
    (("corticosteroid", "corticosteroids", "glucocorticoid", "glucocorticoids", "steroid", "steroids"),
     ("prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone")),
)


# Bedside and lay words -> the clinical names a guideline uses: (lay names, clinical names). Written
# from general medical usage, not from the corpus. One way only: a question saying "drip" means an
# infusion, but a guideline's "infusion" is not rewritten as "drip". The first clinical name is the
# one a question is reworded with for retrieval (`clinical_wording`); all of them, with their own
# synonym group and drug-class relatives, become names of the question's concept (`mentioned_groups`).
LAY_TERMS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("drip", "drips", "IV drip"), ("infusion", "intravenous infusion", "IV infusion", "infusions")),
    (("baby", "babies"), ("newborn", "infant", "neonate", "newborns", "infants", "neonates", "neonatal")),
    (("brain bleed", "brain bleeding", "brain haemorrhage", "brain hemorrhage", "bleed in the brain", "bleeding in the brain"),
     ("intracerebral hemorrhage", "intracranial hemorrhage", "ICH")),
    (("bedbound", "bed-bound", "bed bound", "bedridden", "bed-ridden"),
     ("nonambulatory", "non-ambulatory", "immobile", "immobilized", "immobilised", "immobility")),
    (("pulse", "pulse rate"), ("heart rate",)),  # not "pulse oximetry" / "pulse pressure" (_LAY_NOT_BEFORE)
    (("floppy",), ("poor tone", "hypotonia", "hypotonic", "limp")),
    (("blood thinner", "blood thinners"), ("anticoagulant", "anticoagulants", "anticoagulation")),
    (("water pill", "water pills", "water tablet", "water tablets"), ("diuretic", "diuretics")),
    (("blood sugar", "blood sugars", "sugar level", "sugar levels"), ("blood glucose", "glucose")),
    (("mini-stroke", "mini stroke", "ministroke"), ("transient ischemic attack", "TIA")),
    (("clot in the lung", "clot in the lungs", "lung clot", "blood clot in the lung"), ("pulmonary embolism",)),
    (("leg clot", "clot in the leg", "blood clot in the leg"), ("deep vein thrombosis", "DVT")),
    (("stomach bleed", "gut bleed", "bleeding ulcer"), ("upper gastrointestinal bleeding", "gastrointestinal bleeding", "GI bleeding")),
    (("vomiting blood", "throwing up blood"), ("hematemesis", "haematemesis")),
    (("black stools", "tarry stools", "black tarry stools"), ("melena", "melaena")),
    (("smoke exposure",), ("smoke inhalation", "inhalation injury")),
    (("cooling",), ("therapeutic hypothermia", "hypothermia", "targeted temperature management")),
    (("kidney stones",), ("nephrolithiasis", "urolithiasis")),
    (("water on the lungs", "fluid on the lungs"), ("pulmonary edema", "pulmonary oedema")),
    (("collapsed lung",), ("pneumothorax",)),
    (("heart failure medication",), ("guideline-directed medical therapy", "GDMT")),
    (("liver cancer",), ("hepatocellular carcinoma", "HCC")),
    (("chest film", "chest films", "chest x-ray", "chest X-ray", "CXR"), ("chest radiograph", "chest radiography", "chest imaging")),
)
_LAY_NOT_BEFORE = {"pulse": r"(?!\s*-?\s*(?:ox\w*|pressure|steroid\w*|dos\w*|therapy))"}

# Brand names -> generic names, from general prescribing knowledge: a clinician says "Eliquis" or
# "Praxbind", a guideline says "apixaban" or "idarucizumab". The table is data (evidence/data/
# brand_names.tsv: brand, generic, note), with each generic written as the demo corpus writes it
# ("sacubitril/valsartan", "piperacillin-tazobactam"). Read once, at import.
BRAND_NAMES_FILE = Path(__file__).with_name("data") / "brand_names.tsv"
_BRAND_HEADER = ("brand", "generic", "note")


def _table_error(path: Path, number: int, line: str, why: str) -> ValueError:
    return ValueError(f"{path}, line {number}: {why}: {line!r}")


def load_brand_names(path: Path | str = BRAND_NAMES_FILE) -> tuple[tuple[str, str], ...]:
    """(brand, generic) pairs of a brand table: tab-separated brand, generic and note, after a
    header line; blank lines and lines starting with "#" are skipped. A malformed line (not three
    columns, an empty or padded brand or generic, a brand listed twice) raises ValueError naming
    the file and the line."""
    path = Path(path)
    pairs: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    header = False
    with path.open(encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            bad = partial(_table_error, path, number, line)
            if len(fields) != 3:
                raise bad(f"expected 3 tab-separated columns (brand, generic, note), found {len(fields)}")
            if not header:
                if tuple(fields) != _BRAND_HEADER:
                    raise bad("expected the header line 'brand<TAB>generic<TAB>note'")
                header = True
                continue
            brand, generic, _note = fields
            for name, value in (("brand", brand), ("generic", generic)):
                if not value or value != value.strip():
                    raise bad(f"empty or space-padded {name}")
            if brand.lower() in seen:
                raise bad(f"brand {brand!r} already listed on line {seen[brand.lower()]}")
            seen[brand.lower()] = number
            pairs.append((brand, generic))
    if not header:
        raise ValueError(f"{path}, line 1: no header line 'brand<TAB>generic<TAB>note'")
    return tuple(pairs)


BRAND_NAMES: tuple[tuple[str, str], ...] = load_brand_names()


def _is_abbreviation(name: str) -> bool:
    return len(name) <= 5 and name.upper() == name and not has_cjk(name)


def _pattern(name: str) -> re.Pattern[str]:
    if has_cjk(name):
        return re.compile(re.escape(name))
    flags = 0 if _is_abbreviation(name) else re.I
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flags)


_PATTERNS: tuple[tuple[tuple[str, re.Pattern[str]], ...], ...] = tuple(
    tuple((name, _pattern(name)) for name in group) for group in SYNONYM_GROUPS
)


_CLASS_PATTERNS = tuple(
    (tuple((n, _pattern(n)) for n in names), tuple((m, _pattern(m)) for m in members)) for names, members in DRUG_CLASSES
)


def _lay_pattern(name: str) -> re.Pattern[str]:
    """A lay or brand name as a whole word, any case ("praxbind"), with its exclusions (_LAY_NOT_BEFORE)."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-]){_LAY_NOT_BEFORE.get(name.lower(), '')}", re.I)


_PLAIN_ENTRIES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = LAY_TERMS + tuple(((b,), (g,)) for b, g in BRAND_NAMES)
_PLAIN_PATTERNS = tuple(
    (tuple((n, _lay_pattern(n)) for n in sorted(lay, key=len, reverse=True)), clinical) for lay, clinical in _PLAIN_ENTRIES
)


def plain_terms(text: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Each lay or brand name the text uses (LAY_TERMS, BRAND_NAMES), longest first and not inside a
    longer one already found: [(name as written in the entry, its lay names, its clinical names)]."""
    hits: list[tuple[int, int, str, tuple[str, ...], tuple[str, ...]]] = []
    for names, clinical in _PLAIN_PATTERNS:
        for name, pattern in names:
            m = pattern.search(text)
            if m:
                hits.append((m.start(), m.end(), name, tuple(n for n, _ in names), clinical))
                break
    hits.sort(key=lambda h: h[0] - h[1])  # longest span first
    taken: list[tuple[int, int]] = []
    out = []
    for start, end, name, lay, clinical in hits:
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        out.append((name, lay, clinical))
    return out


_PLAIN_PATTERN_OF = {name: pattern for names, _ in _PLAIN_PATTERNS for name, pattern in names}


def clinical_wording(text: str) -> str:
    """The question with each lay or brand name replaced by its first clinical name ("brain bleed"
    -> "intracerebral hemorrhage"): what retrieval embeds and scores relevance on."""
    for name, _, clinical in plain_terms(text):
        text = _PLAIN_PATTERN_OF[name].sub(clinical[0], text, count=1)
    return text


def _clinical_names(clinical: Iterable[str]) -> list[str]:
    """Clinical names with the other names of their synonym group ("ICH" -> "intracerebral haemorrhage")."""
    out = list(clinical)
    for group in _PATTERNS:
        if any(p.fullmatch(c) for c in clinical for _, p in group):
            out.extend(n for n, _ in group)
    return list(dict.fromkeys(out))


def related_names(name: str) -> list[str]:
    """The names a drug or class meets across DRUG_CLASSES: a class name -> its members, a member
    -> its class's names (not its sibling drugs)."""
    out: list[str] = []
    for names, members in _CLASS_PATTERNS:
        if any(p.fullmatch(name) for _, p in names):
            out.extend(m for m, _ in members)
        elif any(p.fullmatch(name) for _, p in members):
            out.extend(n for n, _ in names)
    return out


def class_relatives(text: str) -> list[str]:
    """Every name related (`related_names`) to a class or member the text mentions."""
    out: list[str] = []
    for names, members in _CLASS_PATTERNS:
        if any(p.search(text) for _, p in names):
            out.extend(m for m, _ in members)
        out.extend(n for n, _ in names if any(p.search(text) for _, p in members))
    return list(dict.fromkeys(out))


def expand_query(text: str) -> str:
    """The question followed by the other names of every concept it mentions (for BM25), the
    clinical names of its lay and brand words (LAY_TERMS, BRAND_NAMES), and the members of a drug
    class it names or the class of a drug it names (DRUG_CLASSES)."""
    extra: list[str] = [c for _, _, clinical in plain_terms(text) for c in _clinical_names(clinical)]
    seen = text + "\n" + "\n".join(extra)
    for group in _PATTERNS:
        present = [name for name, pattern in group if pattern.search(seen)]
        if present:
            extra.extend(name for name, pattern in group if name not in present and name not in extra)
    extra.extend(n for n in class_relatives(seen) if n not in extra)
    extra = [n for n in dict.fromkeys(extra) if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text, re.I)]
    return text if not extra else text + "\n" + " ; ".join(extra)


def canonical_map(tokenize: Callable[[str], Iterable[str]]) -> Mapping[str, str]:
    """Token -> canonical token, for the names that the given tokenizer turns into one token.

    Built once per tokenizer and shared (read-only): term extraction calls this per sentence.
    Multi-word names are left to `expand_query`: mapping them token by token would conflate
    unrelated words ("heart" is not "heart failure")."""
    return _canonical_map(tokenize)


@lru_cache(maxsize=8)
def _canonical_map(tokenize: Callable[[str], Iterable[str]]) -> Mapping[str, str]:
    pairs: dict[str, str] = {}
    for group in SYNONYM_GROUPS:
        singles = []
        for name in group:
            if has_cjk(name):
                continue  # Chinese names tokenise into bigrams; expansion covers them
            tokens = list(tokenize(name))
            if len(tokens) == 1:
                singles.append(tokens[0])
        if len(set(singles)) > 1:
            canonical = min(singles)
            for token in singles:
                pairs.setdefault(token, canonical)
    return MappingProxyType(pairs)


def mentioned_groups(text: str) -> list[tuple[tuple[str, ...], str]]:
    """Each synonym group the text names, with the name it used: [(group, name), ...]; a lay or
    brand word counts as a group of its own names and its clinical names (`plain_terms`)."""
    found = [((*lay, *_clinical_names(clinical)), name) for name, lay, clinical in plain_terms(text)]
    for names, group in zip(SYNONYM_GROUPS, _PATTERNS):
        used = next((name for name, pattern in group if pattern.search(text)), None)
        if used is not None:
            found.append((names, used))
    return found
