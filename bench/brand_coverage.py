"""Which drugs the demo corpus names, and which of them the brand table (evidence/data/brand_names.tsv) reaches.

    python bench/brand_coverage.py            # counts, and the corpus drugs with no brand in the table
    python bench/brand_coverage.py --list     # every candidate drug name, with its brands

Candidates are the corpus words (open-medicine guideline summaries and data/sources) that end in an
INN stem (-pril, -sartan, -mab, -gliflozin, ...) or are in a short list of drugs no stem catches
(insulin, heparin, morphine, ...), less common English words (wordfreq). The stems also catch some
words that are not drugs ("peptide", "bromide"): read the list, don't trust it blindly. A drug counts
as reached when a generic in the table names it (a combination by any of its parts).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STEMS = (
    "cillin", "mycin", "micin", "floxacin", "oxacin", "pril", "sartan", "olol", "alol", "dipine", "parin", "parinux",
    "xaban", "gatran", "rudin", "azole", "vir", "mab", "cept", "tinib", "citinib", "gliflozin", "glutide", "gliptin",
    "glitazone", "statin", "sone", "olone", "tide", "pam", "zolam", "tidine", "prazole", "setron", "triptan", "platin",
    "terol", "onium", "uronium", "barbital", "caine", "cycline", "penem", "cef", "ceph", "oxetine", "apine", "afil",
    "lukast", "dronate", "fibrate", "thiazide", "semide", "profen", "fenac", "coxib", "kinra", "plase", "pressin",
    "osin", "azosin", "triptyline", "racetam", "orphine", "done", "adol", "tropium", "idone", "fibran", "fungin",
)
# Drugs no stem above catches, written as guidelines write them.
NAMED = (
    "insulin", "heparin", "aspirin", "morphine", "warfarin", "labetalol", "hydralazine", "clevidipine", "nicardipine",
    "terlipressin", "octreotide", "finerenone", "tirzepatide", "meperidine", "metformin", "digoxin", "amiodarone",
    "dronedarone", "flecainide", "ivabradine", "vericiguat", "sacubitril", "ranolazine", "milrinone", "dobutamine",
    "dopamine", "epinephrine", "norepinephrine", "vasopressin", "phenylephrine", "nitroglycerin", "nitroprusside",
    "clopidogrel", "ticagrelor", "prasugrel", "dipyridamole", "argatroban", "danaparoid", "tranexamic acid",
    "idarucizumab", "andexanet", "protamine", "vitamin K", "ezetimibe", "icosapent", "bempedoic acid", "niacin",
    "gemfibrozil", "colchicine", "allopurinol", "febuxostat", "probenecid", "pegloticase", "methotrexate",
    "leflunomide", "sulfasalazine", "hydroxychloroquine", "azathioprine", "cyclosporine", "tacrolimus", "lithium",
    "bupropion", "mirtazapine", "trazodone", "naltrexone", "acamprosate", "disulfiram", "gabapentin", "pregabalin",
    "topiramate", "varenicline", "ketamine", "propofol", "dexmedetomidine", "fentanyl", "hydromorphone", "tramadol",
    "codeine", "acetaminophen", "paracetamol", "ibuprofen", "naproxen", "ketorolac", "lidocaine", "mannitol",
    "lactulose", "rifaximin", "rifampin", "albumin", "glucagon", "desmopressin", "hydroxocobalamin", "acetylcysteine",
    "patiromer", "sodium zirconium cyclosilicate", "ferric carboxymaltose", "iron sucrose", "erythropoietin",
    "tamoxifen", "theophylline", "roflumilast", "montelukast", "ipratropium", "tiotropium", "umeclidinium",
    "glycopyrrolate", "linezolid", "clindamycin", "metronidazole", "nitrofurantoin", "fosfomycin", "aztreonam",
    "trimethoprim", "sulfamethoxazole", "chlorhexidine", "silver sulfadiazine", "mafenide", "streptokinase",
)


def corpus_text() -> str:
    import open_medicine

    root = Path(open_medicine.__file__).parent / "guidelines" / "content"
    files = sorted(root.glob("*/*.md")) + sorted((ROOT / "data" / "sources").glob("*.txt"))
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def corpus_drugs(text: str) -> list[str]:
    from wordfreq import zipf_frequency

    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z]+", text)}
    by_stem = {w for w in words if len(w) > 5 and w.endswith(STEMS) and zipf_frequency(w, "en") < 3.0}
    named = {n for n in NAMED if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text, re.I)}
    return sorted(by_stem | named, key=str.lower)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="every candidate with its brands")
    args = parser.parse_args()
    from evidence.synonyms import BRAND_NAMES

    brands_of: dict[str, list[str]] = defaultdict(list)
    for brand, generic in BRAND_NAMES:
        brands_of[generic.lower()].append(brand)
    drugs = corpus_drugs(corpus_text())
    reached = {}
    for drug in drugs:
        pattern = re.compile(rf"(?<![a-z]){re.escape(drug.lower())}(?![a-z])")
        reached[drug] = [b for g, bs in brands_of.items() if pattern.search(g) for b in bs]
    if args.list:
        for drug in drugs:
            print(f"{drug}\t{', '.join(reached[drug]) or '-'}")
    print(f"{len(BRAND_NAMES)} brands for {len(brands_of)} generics; {len(drugs)} candidate drug names in the corpus, "
          f"{sum(1 for d in drugs if reached[d])} with at least one brand")
    print("no brand:", " ".join(d for d in drugs if not reached[d]))


if __name__ == "__main__":
    main()
