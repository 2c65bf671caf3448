"""The phrases that name a study design or a kind of document, in English and Chinese.

Each cue names what it is evidence *for* and how telling it is on its own (1.0 names the design
outright, "a randomised controlled trial"; 0.3 only hints at it, "followed up"). Where a phrase
appears decides how much it counts; that weighing lives in `grading.py`, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexing.labels import SourceType

# Kinds that are not source types but change the decision.
PROTOCOL = "protocol"  # a study protocol: reports no results
PRECLINICAL = "preclinical"  # animal / in-vitro / mechanism work
POST_HOC = "post_hoc"  # secondary analysis of trial data
QUALITATIVE = "qualitative"  # interviews, focus groups: outside the evidence hierarchy
NON_CLINICAL_KINDS = (PROTOCOL, PRECLINICAL, QUALITATIVE)  # report no clinical evidence: other, level 5
CueKind = SourceType | str


@dataclass(frozen=True)
class Cue:
    kind: CueKind
    name: str  # how reasons name it
    pattern: re.Pattern[str]
    weight: float


def _cue(kind: CueKind, name: str, pattern: str, weight: float) -> Cue:
    return Cue(kind, name, re.compile(pattern, re.IGNORECASE | re.MULTILINE), weight)


S = SourceType
CUES: list[Cue] = [
    # ---- systematic reviews and meta-analyses
    _cue(S.SYSTEMATIC_REVIEW, "systematic review", r"(?<!non-)(?<!non)\bsystematic(?:al)?\s+(?:literature\s+)?reviews?\b", 1.0),
    _cue(S.SYSTEMATIC_REVIEW, "meta-analysis", r"\b(?:network\s+)?meta-?\s?analy[sz](?:is|es|ed)\b|\bmetaanaly|\bmeta-?analytic\s+review", 1.0),
    _cue(S.SYSTEMATIC_REVIEW, "systematic search", r"\bsystematic(?:ally)?\s+(?:literature\s+)?search(?:ed|es)?\b|\bsystematically\s+reviewed", 0.9),
    _cue(S.SYSTEMATIC_REVIEW, "pooled data", r"\bpooled\s+data\s+from\s+\d+|\bsummary\s+(?:relative\s+risks?|odds\s+ratios?|estimates?|effect)", 0.6),
    _cue(S.SYSTEMATIC_REVIEW, "PRISMA", r"\bPRISMA\b", 0.8),
    _cue(S.SYSTEMATIC_REVIEW, "evidence synthesis", r"\bevidence\s+synthesis\b", 0.7),
    _cue(S.SYSTEMATIC_REVIEW, "umbrella review", r"\bumbrella\s+review|overview\s+of\s+(?:systematic\s+)?reviews", 0.9),
    _cue(S.SYSTEMATIC_REVIEW, "database search",
         r"\b(?:we\s+)?search(?:ed)?\s+(?:[\w,()]+\s+){0,5}(?:MEDLINE|PubMed|Embase|Cochrane|Web\s+of\s+Science|CINAHL|Scopus)", 0.8),
    _cue(S.SYSTEMATIC_REVIEW, "pooled estimate",
         r"\brandom[- ]effects?\s+model|\bfixed[- ]effects?\s+model|\bpooled\s+(?:risk|odds|hazard|relative|mean|estimate|analysis)|\bforest\s+plot", 0.6),
    _cue(S.SYSTEMATIC_REVIEW, "review methods headings",
         r"(?:^|(?<=[.;:!?] ))\W*(?:search\s+(?:methods|strategy)|selection\s+criteria|eligibility\s+criteria|data\s+(?:collection\s+and\s+analysis|extraction|synthesis))\s*[:：]", 0.8),
    _cue(S.SYSTEMATIC_REVIEW, "studies included", r"\b(?:we\s+)?included\s+\d+\s+(?:\w+\s+){0,2}(?:trials|studies|RCTs)\b", 0.6),
    _cue(S.SYSTEMATIC_REVIEW, "系统评价", r"系统评价|系统综述|系统性综述|系统回顾", 1.0),
    _cue(S.SYSTEMATIC_REVIEW, "Meta分析", r"荟萃分析|Meta\s*分析|网状\s*Meta|汇总分析", 1.0),
    _cue(S.SYSTEMATIC_REVIEW, "文献检索", r"检索(?:了)?.{0,30}(?:PubMed|Embase|Cochrane|中国知网|CNKI|万方|维普|CBM)", 0.8),
    # ---- randomised controlled trials
    _cue(S.RCT, "randomised controlled trial",
         r"\brandomi[sz]ed(?:[\s,-]+(?:\w+[\s,-]+){0,4}?)(?:controlled\s+)?(?:clinical\s+)?trials?\b", 1.0),
    _cue(S.RCT, "RCT", r"\bRCT\b", 0.8),
    _cue(S.RCT, "random allocation",
         r"\brandomly\s+(?:assigned|allocated|divided|distributed|selected\s+to\s+receive|given)|\b(?:were|was|been)\s+(?:\w+ly\s+)?randomi[sz]ed(?!\s+order)"
         r"|\brandomi[sz]ation\b|\brandomi[sz]ed\s+(?:\d|in\s+a|to\b|1:1|2:1|into\b)", 0.9),
    _cue(S.RCT, "randomised study",
         r"\brandomi[sz]ed,?\s+(?:[\w-]+,?\s+){0,3}?(?:study|studies|fashion|manner|design|comparison|experiment|cross-?over)\b", 0.9),
    _cue(S.RCT, "blinding", r"\b(?:double|triple|single)[- ]blind(?:ed)?\b|\bplacebo[- ]controlled\b|\bmasked\s+trial", 0.7),
    _cue(S.RCT, "allocation concealment", r"\ballocation\s+concealment|\bCONSORT\b", 0.6),
    _cue(S.RCT, "assigned to arms",
         r"\b(?:were|was)\s+(?:\w+\s+)?(?:assigned|allocated)\s+to\s+(?:receive\s+)?(?:either|one\s+of|\w+\s+or)", 0.6),
    # "trial" alone does not say randomised: it counts only in a text that speaks of randomisation
    # somewhere (see grading._read), e.g. "a trial of X ... after the randomised phase ended".
    _cue(S.RCT, "trial", r"\btrial\b(?!\s+regist)", 0.3),
    _cue(S.RCT, "stepped-wedge / cluster randomisation",
         r"\bstepped[- ]wedge\b|\bcluster[- ]randomi[sz]ed|\b(?:crossed\s+over|allocated|assigned)\s+(?:\w+\s+){0,4}in\s+(?:a\s+)?random\s+order", 0.9),
    _cue(S.RCT, "random sequence / masked assessment",
         r"\bcomputer-generated\s+(?:random\s+)?(?:sequence|allocation|list)|\brandom\s+(?:sequence|allocation)"
         r"|\b(?:assessors|investigators|participants)\s+(?:were\s+)?(?:unaware|blinded|masked)\s+(?:of|to)\s+(?:group|treatment)\s+(?:assignment|allocation)", 0.8),
    _cue(S.RCT, "随机对照试验", r"随机对照(?:试验|研究|临床试验)|随机、?(?:双盲|单盲|开放)", 1.0),
    _cue(S.RCT, "随机分组", r"随机(?:分为|分成|分配|分组|数字表|化分组|入组)", 0.9),
    _cue(S.RCT, "双盲", r"双盲|三盲|安慰剂对照", 0.7),
    # ---- cohort and other non-randomised controlled designs
    _cue(S.COHORT, "cohort study", r"\bcohort\s+stud(?:y|ies)|\b(?:prospective|retrospective|population-based|longitudinal|birth|historical|inception)\s+cohort", 1.0),
    _cue(S.COHORT, "cohort", r"\bcohorts?\b", 0.25),  # "a cohort of patients" is said of any group
    _cue(S.COHORT, "prospective study",
         r"\bprospective\s+(?:\w+\s+){0,2}?(?:study|analysis|evaluation|follow-up)|\bprospective(?:ly)?,?\s+(?:observational|longitudinal)", 0.5),
    _cue(S.COHORT, "non-randomised controlled design",
         r"\bnon-?\s?randomi[sz]ed|\bquasi-?\s?(?:experimental|randomi[sz]ed)|\bcontrolled\s+before[- ]and[- ]after|\binterrupted\s+time[- ]series", 0.9),
    _cue(S.COHORT, "prospective/longitudinal follow-up",
         r"\bprospectively\s+(?:followed|enrolled|collected)|\bfollowed\s+(?:up\s+)?for\s+(?:a\s+)?(?:median|mean|\d)|\blongitudinal\s+(?:study|analysis)", 0.6),
    _cue(S.COHORT, "registry/database study", r"\bregistry(?:-based)?\s+(?:study|data|analysis)|\b(?:claims|administrative|electronic\s+health\s+record)s?\s+(?:database|data)", 0.5),
    _cue(S.COHORT, "retrospective study", r"\bretrospective(?:ly)?\s+(?:study|analysis|review|analy[sz]ed)", 0.4),
    _cue(S.COHORT, "record review",
         r"\b(?:were|was)\s+(?:evaluated|analy[sz]ed|reviewed|studied|examined|collected)\s+retrospectively|\bretrospectively\s+(?:review|evaluat|collect|stud|examin|analy[sz]|assess|investigat|compar|identif)\w*"
         r"|\b(?:examined|reviewed|analy[sz]ed|evaluated|studied)\s+retrospectively\b"
         r"|\b(?:medical|clinical|hospital|patients?'?|health)\s+(?:records|charts|files|notes)\s+(?:\w+\s+){0,3}(?:were|was)\s+(?:reviewed|analy[sz]ed|examined|evaluated)"
         r"|\b(?:chart|record)\s+review|\breview\s+of\s+(?:the\s+)?(?:[\w-]+\s+){0,2}(?:records|charts|case\s+notes|files)\b", 0.8),
    _cue(S.COHORT, "non-randomised / single-arm trial",
         r"\bsingle[- ]arm\b|\bphase\s+(?:I|II|IV|1|2|4)[ab]?\s+(?:\w+\s+)?(?:study|trial)|\bopen[- ]label\s+(?:\w+\s+)?(?:study|trial)|\buncontrolled\s+(?:study|trial)", 0.6),
    _cue(S.COHORT, "before-after comparison",
         r"\bbefore\s+and\s+(?:after|during)\s+(?:the\s+)?(?:[\w-]+\s+){0,2}?(?:treatment|surgery|intervention|implant\w*|therapy|chemotherapy|operation|procedure|training|program(?:me)?|course|administration|infusion)|\bpre-?\s?test[- ]post-?\s?test|\bpre-?\s?and\s+post-?(?:operative|treatment|intervention)", 0.6),
    _cue(S.COHORT, "treated group followed",
         r"\ball\s+(?:\d+\s+|the\s+)?(?:patients|participants|subjects|children|women|men)\s+(?:\w+\s+)?(?:received|underwent|were\s+treated)\b"
         r"|\bat\s+baseline\s+and\s+(?:again\s+)?(?:after|at)\s+(?:\d+|one|two|three|six|twelve)\s+(?:days?|weeks?|months?|years?)", 0.5),
    _cue(S.COHORT, "follow-up of a population",
         r"\b\d+\s+years?\s+of\s+follow-?up|\bduring\s+(?:a\s+)?(?:median\s+|mean\s+)?(?:\d+|\w+)[\s-]+(?:years?|months?)\s+of\s+follow-?up"
         r"|\bfollowed\s+(?:them|participants|all|up)\b|\bbiobank\b|\bnationwide\s+registers?|\bincident\s+\w+", 0.6),
    _cue(S.COHORT, "record linkage / each person followed",
         r"\bfollowed\s+(?:each|every|all|the)?\s*(?:person|participant|patient|individual|child|woman|man|member)s?\b"
         r"|\bfollowed\s+(?:from|until)\b|\brecord\s+linkage|\blinkage\s+(?:to|with)\b|\blinked\s+(?:\w+\s+){0,5}(?:records|registers|registrations|data)", 0.6),
    _cue(S.COHORT, "observational comparison",
         r"\bobservational\s+data|\bpropensity[- ]score|\binverse\s+probability\s+(?:of\s+treatment\s+)?weight\w*|\btarget\s+trial\s+emulation", 0.6),
    _cue(S.COHORT, "time-to-event analysis", r"\bCox\s+(?:proportional[- ]hazards?\s+)?(?:regression|models?)|\bhazard\s+ratios?\b|\bat\s+baseline\b", 0.4),
    _cue(S.COHORT, "队列研究", r"队列研究|前瞻性队列|回顾性队列|出生队列|队列", 1.0),
    _cue(S.COHORT, "非随机对照", r"非随机(?:对照|分组|化)?|类实验|准实验", 0.9),
    _cue(S.COHORT, "前瞻性研究", r"前瞻性(?:研究|观察|随访)|随访\s*\d|中位随访", 0.6),
    _cue(S.COHORT, "回顾性分析", r"回顾性(?:研究|分析)", 0.4),
    # ---- case-control
    _cue(S.CASE_CONTROL, "case-control", r"\bcase[- ]control(?:led)?\b|\bcase[- ]referent", 1.0),
    _cue(S.CASE_CONTROL, "matched controls", r"\bmatched\s+(?:healthy\s+)?controls|\bcontrols\s+(?:were\s+)?matched", 0.6),
    _cue(S.CASE_CONTROL, "healthy controls", r"\bhealthy\s+(?:\w+\s+)?controls?\b|\bcontrol\s+group\s+of\s+(?:\d+\s+)?healthy", 0.5),
    _cue(S.CASE_CONTROL, "cases compared with controls",
         r"\bcases\s+and\s+(?:\w+\s+)?controls\b|\bcontrol\s+(?:infants|subjects|individuals|children|women|men)\b|\bcompared\s+with\s+(?:\w+\s+){0,3}controls\b", 0.7),
    _cue(S.CASE_CONTROL, "matched comparison of exposures",
         r"\bmatched\s+(?:\d:\d|in\s+a\s+\d:\d)|\b(?:prior|previous|past)\s+exposures?\s+(?:were\s+)?compared", 0.6),
    _cue(S.CASE_CONTROL, "people with the outcome matched to people without",
         r"\bmatched\s+(?:with|to)\s+(?:up\s+to\s+)?(?:\d+|one|two|three|four|five|ten)\s+(?:\w+\s+){0,2}(?:without|free\s+of)\b", 0.8),
    _cue(S.CASE_CONTROL, "people with and without the outcome compared",
         r"\bwith\s+([a-z]{4,})\s+and\s+(?:[\w-]+\s+){0,4}without\s+\1\b|\bcases\s+and\s+non-?cases\b", 0.7),
    _cue(S.CASE_CONTROL, "病例对照", r"病例[-—]?对照", 1.0),
    # ---- cross-sectional
    _cue(S.CROSS_SECTIONAL, "cross-sectional", r"\bcross[- ]?sectional\b", 1.0),
    _cue(S.CROSS_SECTIONAL, "survey",
         r"\b(?:prevalence|questionnaire|online|web-based|national|telephone)\s+(?:study|survey)|\bwe\s+surveyed|\bsurvey\s+(?:of|among)\b", 0.7),
    _cue(S.CROSS_SECTIONAL, "single-occasion measurement",
         r"\b(?:on|at|during)\s+a\s+single\s+(?:visit|occasion|day|time[- ]point)|\bcompleted\s+(?:a|an)\s+(?:\w+\s+)?questionnaire|\bprevalence\b", 0.5),
    _cue(S.CROSS_SECTIONAL, "survey", r"\bsurvey\b|\bself-administered\s+questionnaire", 0.5),
    _cue(S.CROSS_SECTIONAL, "descriptive study",
         r"\bdescriptive\s+(?:\w+\s+){0,2}(?:study|analysis|survey|investigation)|\bnationally\s+representative", 0.6),
    _cue(S.CROSS_SECTIONAL, "questionnaire administered",
         r"\b(?:web-based|online|self-administered|structured|anonymous|interviewer-administered)\s+questionnaire|\bquestionnaire\s+was\s+(?:completed|administered|distributed|sent)"
         r"|\b(?:responded\s+to|answered|completed)\s+(?:the\s+|a\s+)?(?:[\w-]+\s+){0,4}questionnaires?\b|\bdata\s+were\s+collected\s+(?:using|through|by)\s+(?:a\s+)?(?:[\w-]+\s+){0,3}questionnaire", 0.6),
    _cue(S.CROSS_SECTIONAL, "调查", r"一次性调查|调查", 0.5),
    _cue(S.CROSS_SECTIONAL, "diagnostic accuracy",
         r"\bdiagnostic\s+(?:accuracy|performance|value)|\bsensitivity\s+and\s+specificity|\breference\s+standard|\bindex\s+test"
         r"|^\W*(?:the\s+)?accuracy\s+of\b|\baccuracy\s+of\s+(?:[\w-]+\s+){1,5}(?:for|in)\s+(?:the\s+)?(?:diagnos|detect)", 0.8),
    _cue(S.CROSS_SECTIONAL, "associated factors",
         r"\bfactors\s+associated\s+with|\bassociated\s+factors|\bdeterminants\s+of|\blogistic\s+regression", 0.2),
    _cue(S.CROSS_SECTIONAL, "横断面", r"横断面|现况调查|现况研究", 1.0),
    _cue(S.CROSS_SECTIONAL, "问卷调查", r"问卷调查|流行病学调查|抽样调查|患病率(?:调查)?|(?:分层|整群|多阶段)\S{0,6}抽样", 0.7),
    # ---- case reports and series
    _cue(S.CASE_SERIES, "case report/series", r"\bcase\s+(?:reports?|series|study\s+of\s+a)\b", 1.0),
    _cue(S.CASE_SERIES, "single patient described",
         r"\bwe\s+(?:report|describe|present)\s+(?:a|an|the\s+case|two|three|four|five|\d+)\b(?:\s+\w+){0,4}\s+(?:case|patient|\d+-year-old)", 1.0),
    _cue(S.CASE_SERIES, "report of cases",
         r"\breport\s+of\s+(?:a|one|two|three|four|five|six|\d+)\s+(?:[\w-]+\s+)?cases?\b", 1.0),
    _cue(S.CASE_SERIES, "series of counted cases",
         r"\b(?:analysis|study|review|series|report|experience)\s+(?:of|with)\s+(?:\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty)\s+(?:[\w-]+\s+){0,3}?cases\b"
         r"|\b(?:a|an)\s+(?:rare|unique|unusual|uncommon|atypical|exceptional|interesting|peculiar)\s+(?:[\w-]+\s+)?case\b", 0.9),
    _cue(S.CASE_SERIES, "patients described",
         r"\bwe\s+(?:retrospectively\s+)?(?:describe|report|present)\s+(?:\w+\s+){0,3}(?:patients|cases)\b", 0.7),
    # "consecutive patients" are how a clinical cohort is enrolled far more often than a case series is
    # described (session 8, tuning half: 11 of 12 texts read as case series by this phrase alone were
    # cohort or cross-sectional studies)
    _cue(S.COHORT, "consecutive patients enrolled", r"\bconsecutive\s+(?:\w+\s+)?(?:patients|cases|admissions)", 0.5),
    _cue(S.CASE_SERIES, "patient vignette", r"\b\d{1,3}-year-old\s+(?:man|woman|male|female|boy|girl|patient|infant)", 0.6),
    _cue(S.CASE_SERIES, "the case described",
         r"(?<!in )(?<!in the )\b(?:the|a|an|this|our|one)\s+(?:[\w-]+\s+){0,3}case\s+(?:of\s+(?:an?\s+)?(?:[\w-]+\s+){0,2}(?:man|woman|boy|girl|patient|infant|neonate|child|male|female|\d+-year-old)"
         r"|is\s+(?:presented|described|discussed|reported)|was\s+(?:presented|described|reported))"
         r"|(?<!in )\b(?:this|our|the\s+present)\s+case\b(?!\s+study\s+is\s+(?:ideal|designed|intended))|\bcase\s+presentation\b|\bwe\s+(?:report|present|describe)\s+(?:here\s+)?(?:a|an)\s+(?:[\w-]+\s+){0,3}(?:man|woman|boy|girl|patient|infant|neonate|child)", 0.9),
    _cue(S.CASE_SERIES, "病例报告", r"病例报告|个案报道|病例报道|病例系列|案例报告|\d+\s*例.{0,10}报告|报[告道]\s*\d+\s*例|附\s*\d+\s*例|[\d一二三四五六七八九十]+\s*例\s*$", 1.0),
    _cue(S.CASE_SERIES, "家系报告", r"家系(?:报告|分析|调查)?|报[告道]\s*(?:一|1)\s*(?:个|例)", 0.8),
    _cue(S.CASE_SERIES, "患者简介", r"患者[，,]\s*[男女][，,]\s*\d+\s*岁", 0.6),
    # ---- guidelines
    _cue(S.GUIDELINE, "guideline", r"\b(?:clinical\s+)?(?:practice\s+)?guidelines?\b", 1.0),
    _cue(S.GUIDELINE, "recommendations for practice",
         r"\bpractice\s+parameters?\b|\brecommendations\s+(?:for|on)\s+the\s+(?:diagnosis|management|treatment|prevention|evaluation|care)"
         r"|^\W*recommendations\s+(?:for|on)\b|\b(?:clinical\s+)?practice\s+recommendations\b|\bthe\s+present\s+recommendations\b", 0.7),
    _cue(S.GUIDELINE, "guideline panel", r"\bguideline\s+(?:panel|development\s+group|committee|writing\s+committee)|\bthe\s+panel\s+(?:recommends|suggests)", 1.0),
    _cue(S.GUIDELINE, "recommendation statement",
         r"\brecommendation\s+statement|\b(?:the\s+)?(?:USPSTF|task\s+force|society|college|association)\s+recommends\b", 0.8),
    _cue(S.GUIDELINE, "guidance", r"\bguidance\b", 0.7),
    _cue(S.GUIDELINE, "numbered national guideline", r"\b(?:NICE|SIGN)\s+(?:CG|NG|guideline\s+)?\d{2,3}\b", 0.9),
    _cue(S.GUIDELINE, "interim recommendations",
         r"\binterim\s+(?:guidance|recommendations|clinical\s+considerations|considerations)|\bclinical\s+considerations\b", 0.8),
    _cue(S.GUIDELINE, "care pathway", r"\b(?:care|clinical|local|treatment)\s+pathway|\bthis\s+pathway|\bpathway\s+was\s+agreed", 0.8),
    _cue(S.GUIDELINE, "standards of care / strategy report",
         r"\bstandards?\s+of\s+(?:medical\s+)?care\b|\bglobal\s+strategy\s+for\b|\bnational\s+strategy\s+for\b", 0.9),
    _cue(S.GUIDELINE, "指南", r"指南", 1.0),
    _cue(S.GUIDELINE, "诊疗规范", r"诊疗规范|诊疗方案|临床路径|技术规范", 0.7),
    # ---- consensus and position statements
    _cue(S.CONSENSUS, "consensus statement",
         r"\bconsensus\s+(?:statement|document|report|conference|recommendations?|guidelines?|paper|panel)|\bexpert\s+consensus|\binternational\s+consensus", 1.0),
    _cue(S.CONSENSUS, "consensus", r"\bconsensus\b(?!\s+(?:sequences?|reads?|accuracy|calling|motifs?|sites?|clustering|genotypes?|gene|modules?|networks?|structures?|regions?|signatures?|scores?|predictions?))", 0.5),
    _cue(S.CONSENSUS, "position/scientific statement",
         r"\bposition\s+(?:statement|paper|stand)|\bcommittee\s+opinion|\bscientific\s+statement|\bjoint\s+statement|\bpolicy\s+statement", 1.0),
    _cue(S.CONSENSUS, "expert panel agreement",
         r"\bexpert\s+panel|\bnominal\s+group|\breached\s+(?:agreement|consensus)|\bpanel(?:lists)?\s+agreed|达成共识|多轮讨论", 0.8),
    _cue(S.CONSENSUS, "advisory / committee view",
         r"\bpractice\s+advisory|\badvisory\s+statement|\bviews?\s+of\s+the\s+(?:committee|panel|working\s+group)", 0.9),
    _cue(S.CONSENSUS, "Delphi", r"\bDelphi\b|德尔菲", 0.8),
    _cue(S.CONSENSUS, "专家共识", r"专家共识|共识声明|共识意见|中国共识|共识", 1.0),
    _cue(S.CONSENSUS, "立场声明", r"立场声明|专家建议|专家推荐意见", 0.8),
    # ---- narrative reviews
    _cue(S.NARRATIVE_REVIEW, "narrative review",
         r"\b(?:narrative|literature|clinical|state[- ]of[- ]the[- ]art|comprehensive|critical|mini[- ]?|scoping|historical)\s+review|\breview\s+article|\bthis\s+review|\bwe\s+review|\bhere,?\s+we\s+(?:review|summari[sz]e|discuss)|\brecent\s+advances|\ban?\s+(?:update|overview)\b(?!\s+(?:of\s+(?:a\s+|the\s+)?)?(?:systematic|meta-?\s?analy|cochrane))", 0.9),
    _cue(S.NARRATIVE_REVIEW, "article discussing the field",
         r"\bthis\s+(?:article|paper)\s+(?:discusses|reviews|summari[sz]es|describes|outlines)|\bfuture\s+directions|\bchallenges\s+and\s+(?:opportunities|perspectives)|\bcurrent\s+(?:evidence|concepts|status)\s+and", 0.8),
    _cue(S.NARRATIVE_REVIEW, "topic survey wording",
         r"\bcurrent\s+and\s+(?:future|emerging|novel)\b|\b(?:profile|review)\s+of\s+its\s+(?:use|pharmacology)|\bstate\s+of\s+the\s+art\b", 0.6),
    _cue(S.NARRATIVE_REVIEW, "overview", r"\boverview\b|\bwe\s+(?:outline|summari[sz]e|discuss)\s+(?:the|current|recent|what)", 0.7),
    # "review" as a noun ("a review", "this review", "Review:"), not the verb ("review urate in 4 weeks")
    _cue(S.NARRATIVE_REVIEW, "review",
         r"(?<!systematic\s)(?<!umbrella\s)\b(?:a|an|this|our|the|in)\s+(?!(?:retrospective|prospective|chart|record|case|file|medical|systematic|meta-?analytic|umbrella)\s)(?:[\w-]+\s+)?review\b"
         r"|^\W*review\b|\breview\W*$", 0.5),
    _cue(S.NARRATIVE_REVIEW, "综述", r"(?<!系统)(?<!系统性)综述|研究进展|新进展|进展与展望|解读|概述|现状与展望", 0.9),
    # ---- expert opinion / editorial
    _cue(S.EXPERT_OPINION, "editorial/commentary",
         r"\beditorial\b|\bcommentary\b|(?<!from\sthe\s)\bviewpoint\b(?!\s+of\b)|\b(?:a|an|our|this|my)\s+(?:[\w-]+\s+)?perspective\b(?!\s+(?:of|on|from))"
         r"|\bperspective\s+(?:article|piece|paper)|\b(?:this|the)\s+(?:article|paper|essay)\s+(?:argues|contends|proposes)|\bletter\s+to\s+the\s+editor|\binvited\s+comment|\bopinion\s+(?:piece|article)|\bexpert\s+opinion|\bwe\s+argue\b|\bin\s+my\s+(?:view|experience|opinion)", 0.9),
    _cue(S.EXPERT_OPINION, "self-named opinion piece",
         r"\b(?:this|our|the\s+present|in\s+this)\s+(?:short\s+|brief\s+)?(?:editorial|commentary|viewpoint|essay|opinion\s+piece|letter|perspective(?:\s+(?:article|piece|paper))?)\b(?!\s+(?:of|on|from)\b)"
         r"|\b[\w-]+['’]s\s+(?:perspective|viewpoint|view)\b", 1.5),
    _cue(S.EXPERT_OPINION, "first-person argument",
         r"\bI\s+(?:believe|argue|think|propose|contend)\b|(?:^|(?<=[.;:!?] ))\W*opinion\s*[:：]|\bthe\s+case\s+(?:for|against)\b", 0.8),
    _cue(S.EXPERT_OPINION, "essay", r"\bessay\b|\bwe\s+(?:reflect|call\s+(?:for|on)|contend)|\bthe\s+authors\s+(?:reflect|argue|call)|\bopens?\s+a\s+(?:discussion|debate)", 0.8),
    _cue(S.EXPERT_OPINION, "ethical / legal argument",
         r"\b(?:ethical|moral|legal|jurisprudential|philosophical)\s+(?:and\s+\w+\s+)?(?:considerations|arguments?|debate|implications|dilemmas?)\b", 0.6),
    _cue(S.EXPERT_OPINION, "letter", r"(?:^|(?<=[.;:!?] ))\W*letter\b|\b(?:I|we)\s+write\s+to\b|\bI\s+write\b", 0.9),
    _cue(S.EXPERT_OPINION, "笔者观点", r"笔者|看法|思考|谈谈", 0.7),
    _cue(S.EXPERT_OPINION, "述评", r"述评|评论|编者按|专家观点|专家意见|观点|争鸣", 0.9),
    # ---- textbooks and reference works
    _cue(S.TEXTBOOK, "textbook chapter",
         r"\bchapter\s+\d+|\bin\s+this\s+chapter|\btextbook\b|\bhandbook\b|\blearning\s+objectives\b|\bencyclop(?:a)?edia\b|(?<!statistical\s)\bmanual\s+of\b", 0.9),  # not DSM's "Statistical Manual of"
    _cue(S.TEXTBOOK, "chapter", r"\bchapter\b|\b(?:this|the\s+(?:new|latest))\s+edition\b", 0.4),  # "DSM-5, fifth edition" is no textbook
    _cue(S.TEXTBOOK, "教材", r"第[一二三四五六七八九十百\d]+章|本章|教材|教科书|学习目标|手册", 0.9),
    # ---- not evidence about patients yet
    _cue(PROTOCOL, "study protocol",
         r"\b(?:study|trial|review)\s+protocol\b|\bprotocol\s+(?:for|of)\s+(?:a|an|the)\s+(?:[\w-]+\s+){0,4}(?:trial|study|review|meta-analysis)\b|\b(?:design\s+and\s+rationale|rationale\s+and\s+design)\b|\bdescribes\s+the\s+design\s+of|^\W*design\s+of\s+(?:the|a|an)\s+(?:[\w-]+\s+){0,3}(?:trial|study)\b|\bresults\s+are\s+expected|\bwill\s+be\s+(?:randomi[sz]ed|recruited|enrolled|assigned)"
         r"|\bstatistical\s+analysis\s+plan|\b(?:economic\s+)?evaluation\s+plan\b|^\W*protocol\b|\bthis\s+(?:is\s+a\s+)?protocol\b", 0.9),
    _cue(PROTOCOL, "研究方案", r"研究方案|试验方案|将被随机|将纳入", 0.9),
    _cue(PRECLINICAL, "animal / in-vitro study",
         r"\bin\s+(?:mice|rats|mouse|rat|zebrafish|vitro)\b|\bmurine\b|\bcell\s+lines?\b|\bknock-?out\s+mice|\banimal\s+models?|\bxenograft|\brodent", 0.9),
    _cue(PRECLINICAL, "animals studied",
         r"\b(?:mice|rats|rabbits|hamsters|guinea\s+pigs|zebrafish|larvae|dogs|cats|piglets|pigs|swine|sheep|ewes|lambs|cattle|cows|calves"
         r"|heifers|horses|chickens|broilers|pullets|hens|turkeys|monkeys|macaques|primates)\b|\b(?:Wistar|Sprague[- ]Dawley|C57BL/6)\b", 0.7),
    _cue(PRECLINICAL, "laboratory work",
         r"\bex\s+vivo\b|\bcultured\s+(?:\w+\s+){0,2}cells|\bcell\s+cultures?\b|\bknock(?:down|out|ed\s+down)\b|\btransfect\w*|\bwestern\s+blot\w*"
         r"|\bsiRNA\b|\bcadaver\w*|\bbioinformatic\w*|\bmicroarray", 0.6),
    _cue(QUALITATIVE, "qualitative study",
         r"\bqualitative\s+(?:\w+\s+)?(?:study|approach|research|design|methods?|interviews?|data|findings|analysis)|\bthematic(?:ally)?\s+analy\w*"
         r"|\bfocus\s+groups?\b|\bsemi-?structured\s+(?:\w+\s+)?interviews?|\bgrounded\s+theory|\bphenomenological", 0.9),
    _cue(PRECLINICAL, "动物/细胞实验", r"小鼠|大鼠|细胞系|体外实验|动物模型|细胞实验", 0.9),
    _cue(POST_HOC, "post-hoc / secondary analysis",
         r"\bpost-?trial\s+follow-?up|\bafter\s+the\s+randomi[sz]ed\s+(?:phase|period)|\bobservational\s+follow-?up"
         r"|\blong-?term\s+follow-?up\s+of\s+(?:participants\s+in\s+)?(?:a|the)\s+(?:\w+\s+)?trial|\bpost[- ]?hoc\b|\bsecondary\s+analysis|\bexploratory\s+analysis|\bsubgroup\s+analysis\s+of|\bancillary\s+(?:study|analysis)", 0.9),
    _cue(POST_HOC, "事后分析", r"事后分析|二次分析|亚组分析", 0.9),
]

# Designs a systematic review may pool; decides its level (CEBM: the review is as strong as what it pools).
# One count per phrase: "randomised controlled trials" is one mention, not two.
POOLED_TRIALS = re.compile(
    r"\brandomi[sz]ed(?:[\s,-]+\w+){0,3}?[\s,-]+trials?\b|\brandomi[sz]ed|\bRCTs?\b|\btrials?\b|随机对照试验|随机对照|随机试验",
    re.IGNORECASE,
)
POOLED_COHORT = re.compile(
    r"\bobservational\s+(?:studies|study|data)|\bobservational|\bcohort\s+stud(?:y|ies)|\bcohorts?|\blongitudinal|\bprospective"
    r"|\bnon-?\s?randomi[sz]ed(?:\s+\w+){0,2}\s+stud(?:y|ies)|\bnon-?\s?randomi[sz]ed|\bregistry|观察性研究|观察性|队列研究|队列|非随机",
    re.IGNORECASE,
)
POOLED_WEAKER = re.compile(r"\bcase[- ]control|\bcross[- ]sectional|\bcase\s+(?:series|reports?)|病例对照|横断面|病例报告", re.IGNORECASE)
POOL_CONTEXT = re.compile(
    r"\binclu(?:d|sion)|\beligib|\bpooled|\bsearch|\bidentif|\bretriev|\bselected|\bmeta-?\s?analy|\bsystematic\s+review"
    r"|\bof\s+\d+\s+(?:studies|trials)|\b\d+\s+(?:studies|trials|RCTs)|纳入|检索|合并|荟萃|Meta\s*分析|系统评价",
    re.IGNORECASE,
)

# Sections of a structured abstract: where a design word sits decides how much it says.
SECTION_LABEL = re.compile(
    r"^\W*(background|introduction|context|rationale|importance|objectives?|aims?|purpose|methods?|design|setting"
    r"|materials?\s+and\s+methods|patients?\s+and\s+methods|participants|results?|findings|conclusions?|discussion"
    r"|interpretation|implications)\b[^:：.]{0,25}[:：.]",
    re.IGNORECASE,
)
LEAD_SECTIONS = ("background", "introduction", "context", "rationale", "importance")
CONCLUSION_SECTIONS = ("conclusion", "discussion", "interpretation", "implications")
# A sentence that starts describing this work: the lead-in of an abstract ends there.
STUDY_START = re.compile(
    r"^\W*(?:to|we|our)\s|\b(?:aim|aims|aimed|objective|purpose|goal|hypothes\w+)\b|\bthis\s+(?:study|paper|article|review|report|work)"
    r"|\b(?:was|were)\s+(?:\w+\s+)?(?:performed|conducted|carried\s+out|undertaken|done|included|enrolled|recruited|randomi[sz]ed|analy[sz]ed|reviewed|evaluated|studied|examined|interviewed"
    r"|assigned|allocated|divided|treated|followed|selected|invited|surveyed)\b"
    r"|^\W*(?:a|an|this|the)?\s*(?:[\w-]+\s+){0,3}(?:study|trial|review|analysis|survey|meta-analysis|report)\b",
    re.IGNORECASE,
)
# Any word of randomisation: without one, a bare "trial" is no RCT cue.
RANDOMISATION_WORD = re.compile(r"\brandomi[sz]|\brandomly\b|\brandom\s+(?:order|allocation|sequence)|随机", re.IGNORECASE)
# Groups formed by the treatment given and measured before and after: a controlled comparison of
# treatments (cohort, or a trial), whatever name the authors give it ("an interventional case-control study").
TREATMENT_GROUPS = re.compile(
    r"\b(?:intervention|experimental|treatment|training)\s+group\b|\bgroup\s+(?:\d|[AB]|I{1,2})\s+(?:received|was\s+given|was\s+treated)"
    r"|\bpre-?\s?test[- ]post-?\s?test|\bat\s+baseline\s+and\s+after\b|\bbefore\s+and\s+after\s+(?:the\s+)?(?:[\w-]+\s+){0,4}?(?:intervention|treatment|training|therapy)",
    re.IGNORECASE,
)
# A call for future work names designs that were not done.
FUTURE_WORK = re.compile(
    r"\b(?:are|is|were|be)\s+(?:\w+\s+)?(?:needed|warranted|required|necessary)\b|\bfuture\s+(?:\w+\s+){0,3}(?:stud|trial|research|review)"
    r"|\bfurther\s+(?:\w+\s+){0,3}(?:stud|trial|research|investigation)|\bshould\s+be\s+(?:\w+\s+)?(?:conducted|performed|confirmed|evaluated)",
    re.IGNORECASE,
)
# An all-caps trial name that spells a document word ("the CONSENSUS trial", "CONSENSUS II",
# "(CONSENSUS)", a "DELPHI" study) is an acronym, not a consensus statement: on session 6's held set
# all 8 RCT -> consensus errors were reports of the CONSENSUS trial (Cooperative North Scandinavian
# Enalapril Survival Study). Case-sensitive on purpose; a real statement says "consensus statement /
# conference / panel", and a title printed wholly in capitals is left alone (`grading._read`).
TRIAL_ACRONYM = re.compile(
    r"\b(?:CONSENSUS|DELPHI)(?:[\s-]+(?:I{1,3}|IV|\d{1,2})\b)?"
    r"(?!\s+(?:STATEMENT|CONFERENCE|PANEL|REPORT|DOCUMENT|GUIDELINES?|RECOMMENDATIONS?|MEETING|DEVELOPMENT|ROUNDS?)\b)"
)
# A guideline that is the subject of a study ("adherence to guidelines") is not this document's kind.
GUIDELINE_AS_SUBJECT = re.compile(
    r"\b(?:adheren\w*|complian\w*|concordan\w*|conform\w*|implementation|adoption|uptake|use|application|awareness|knowledge|familiarity|dissemination)"
    r"\s+(?:to|with|of|towards?)\s+(?:the\s+)?(?:[\w-]+\s+){0,8}?(?:guidelines?|recommendations?|standards?\s+of\s+care)\b"
    r"|\b(?:implement\w*|using|encod\w*|formali[sz]\w*|disseminat\w*|translat\w*|operationali[sz]\w*)\s+(?:the\s+)?(?:[\w-]+\s+){0,4}?guidelines?\b"
    r"|\bguidelines?[- ](?:registry|program(?:me)?|database|adherent|concordant|based\s+(?:care|treatment|therapy|prescribing))"
    r"|\b(?:need\s+for|lack\s+of|absence\s+of)\s+(?:\w+\s+){0,2}?guid(?:elines?|ance)\b"
    r"|\b(?:according\s+to|based\s+on|as\s+recommended\s+by|in\s+line\s+with|following)\s+(?:the\s+)?(?:[\w-]+\s+){0,4}?guidelines?\b"
    r"|\b(?:state\s+of\s+the\s+art|review|appraisal|quality|evaluation|analysis|comparison)\s+(?:on|of)\s+(?:the\s+)?(?:[\w-]+\s+){0,3}?guidelines\b"
    r"|\bcomputer[- ]interpretable\s+guidelines?|\binteracting\s+(?:clinical\s+)?guidelines|\bguidelines?\s+(?:adherence|implementation|compliance)"
    r"|\bannotation\s+guidelines?|\bguideline\s+development,"
    # session 7 (tuning half): studies and reviews whose titles set practice against guidelines
    # ("comparison of current guidelines with prescribing patterns", "potential impact of practice
    # guidelines", "are we meeting the standards defined by the AUA guidelines?", "guideline-directed
    # therapy", "in relation to the 1999 WHO/ISH guidelines", "current guidelines on X")
    r"|\b(?:impact|effects?|implications|influence|outcomes?)\s+of\s+(?:the\s+)?(?:[\w/()-]+\s+){0,8}?guidelines?\b"
    r"|\b(?:in\s+relation\s+to|with\s+(?:special\s+)?reference\s+to|relative\s+to|compared\s+(?:with|to)|comparison\s+(?:of|with)|versus|vs\.?"
    r"|against|meeting|achieving|defined\s+by|set\s+by|recommended\s+(?:by|in)|enhance|related\s+to|putting|understanding|follow)\s+(?:the\s+)?(?:[\w/()-]+\s+){0,6}?guidelines?\b"
    # session 8: "compare them to (recently published) expert consensus guidelines"
    r"|\bcompar\w*\s+(?:[\w-]+\s+){0,3}?(?:with|to|against)\s+(?:the\s+)?(?:[\w/()-]+\s+){0,6}?guidelines?\b"
    r"|\b(?:discuss\w*|review\w*|summari[sz]\w*|interpret\w*|bears?\s+on|compar\w*)\s+(?:(?!and\b|to\b)[\w/()-]+\s+){0,6}?guidelines?\b"
    r"|\bguidelines?-(?:directed|discordant|concordant|recommended|based|endorsed)\b|\bcurrent\s+(?:[\w/()-]+\s+){0,3}?guidelines\s+(?:on|for|in)\b"
    # image-guided procedures: "fluoroscopic guidance", "ultrasound-guided"
    r"|\b(?:ultraso\w+|sonograph\w*|fluoroscop\w*|CT|MRI|image|imaging|navigat\w*|endoscop\w*|radiolog\w*|stereotact\w*|laser|robotic)[- ]guid\w+",
    re.IGNORECASE,
)

# A design sentence that speaks of guidelines counts as this document naming itself one only where
# the document issues them: "this / the present guideline", "the guidelines in this article", "we /
# the panel / the committee recommend", "(we) provide / offer / present / develop guidelines",
# "intended to serve as a guideline", "recommendations are made". A sentence that discusses, compares
# with, describes or audits against guidelines ("we compared practice with the BSR guidelines", "this
# article describes screening guidelines", "guidelines recommend") is about them (session 8, tuning
# half: most false guidelines were reviews and audits whose design sentence named guidelines).
ISSUES_RECOMMENDATIONS = re.compile(
    r"\b(?:this|in\s+this|the\s+present|our|the\s+(?:following|enclosed))\s+(?:[\w-]+\s+){0,3}?(?:guidelines?|guidance|recommendations|parameter|statement)\b"
    r"|\b(?:guidelines?|guidance|recommendations)\s+(?:in|of)\s+this\s+(?:article|paper|document|report|review|publication)"
    r"|\b(?:we|panel|committee|task\s+force|working\s+group|society|college|association|authors|experts?)\s+(?:(?!guidelines?\b)\w+\s+)?(?:recommends?|suggests?|advises?|endorses?)\b"
    r"|(?<!\bfor\s)\b(?:provid|offer|present|propos|develop|establish|issued|issuing|formulat|prepar|produc|updat|mak|made|writ|draft)\w*\s+(?!time\b|day\b)(?:[\w-]+\s+){0,4}?(?:guidelines?|guidance|recommendations)\b(?!\s+(?:of|from|by|issued|published|proposed)\b)"
    r"|\b(?:serve|intended|designed|aims?)\s+(?:\w+\s+){0,3}?as\s+(?:a\s+)?guidelines?\b|\bin\s+the\s+form\s+of\s+(?:\w+\s+)?guidelines"
    r"|\brecommendations\s+(?:are|were)\s+(?:\w+\s+)?(?:made|provided|presented|given|proposed|formulated|developed|issued)\b"
    r"|\bgrades?\s+the\s+(?:evidence|recommendations)|\bguideline\s+(?:development\s+group|panel|committee|writing)",
    re.IGNORECASE,
)

# Random allocation said of participants with a verb ("were randomized", "randomly assigned",
# "randomized 2006 patients"), not the noun ("randomisation method"), and what follows a random
# split of data rather than of people ("... into training and validation sets").
ALLOCATION_VERB = re.compile(r"randomly\s+(?:assigned|allocated|divided|distributed)|(?:were|was|been)\s+(?:\w+ly\s+)?randomi[sz]ed|randomi[sz]ed\s+(?:\d|to\b)", re.IGNORECASE)
DATA_SPLIT = re.compile(r"\s+(?:in)?to\s+(?:the\s+|a\s+|two\s+)?(?:[\w-]+\s+){0,2}?(?:training|validation|test|testing|derivation|development|learning)\b", re.IGNORECASE)

# A title that argues for a course of action or asks why one is taken ("Should beta blockers be used
# in the elderly?", "Why not prescribe the best drugs now?", "...: time to call neuropsychology back",
# "The case for ..."): an opinion piece's form, where the text reports no results of its own and does
# not call itself a review (`grading._argued_title`).
ARGUED_TITLE = re.compile(
    r"(?:^|:\s*)\W*(?:should|must|why|is\s+it\s+time|time\s+to|the\s+case\s+(?:for|against)|in\s+defen[cs]e\s+of|a\s+plea\s+for|a\s+call\s+(?:for|to))\b",
    re.IGNORECASE,
)

# An objective that states the document's product ("OBJECTIVE: To provide guidelines for ...", "To
# provide an evidence-based practice guideline on ..."): on the tuning half every such sentence opened
# a guideline (4 of 4), whether or not it said "this" or "we".
OBJECTIVE_ISSUES = re.compile(
    r"^\W*(?:(?:objectives?|aims?|purpose|goal)\s*[:：]\s*)?to\s+(?:provide|develop|present|update|offer|formulate|establish|issue|make|produce|prepare)"
    r"\s+(?:[\w-]+\s+){0,6}?(?:guidelines?|recommendations|guidance)\b",
    re.IGNORECASE,
)

# A text that discusses a topic rather than reporting a study of its own.
DISCURSIVE = re.compile(
    r"\b(?:we|this\s+(?:article|paper|review|chapter|manuscript|contribution|text))\s+(?:also\s+|briefly\s+|then\s+)?"
    r"(?:discuss|summari[sz]e|highlight|outline|review|overview)\w*"
    r"|\b(?:this|the\s+present)\s+(?:article|paper|chapter|manuscript|contribution)\s+(?:\w+\s+)?(?:describes|presents|addresses|focuses|provides|examines)"
    r"|\b(?:is|are|were)\s+(?:\w+\s+)?(?:discussed|reviewed|summari[sz]ed|highlighted|outlined)\b"
    r"|\bcurrent\s+(?:knowledge|understanding|evidence|concepts|status|state|challenges)|\brecent\s+(?:advances|developments|progress|insights)"
    r"|\bthe\s+(?:aim|purpose|objective)\s+of\s+this\s+(?:article|paper|review)|\bthe\s+literature\b|\bwe\s+(?:present|provide)\s+(?:an?\s+)?(?:overview|update|summary)",
    re.IGNORECASE,
)
# Work of its own being done: research verbs in the first person or passive.
ORIGINAL_WORK = re.compile(
    r"\bwe\s+(?:\w+ly\s+)?(?:found|observed|show|showed|measured|collected|tested|performed|conducted|studied|investigated|analy[sz]ed|examined"
    r"|evaluated|assessed|compared|developed|propose|report|recruited|enrolled|identified|used|applied|designed|constructed|obtained|determined)"
    r"|\b(?:this|the\s+present|our|the\s+current)\s+(?:study|work|experiment|investigation|research)|\bin\s+this\s+(?:study|work|investigation)"
    r"|\b(?:was|were)\s+(?:\w+\s+)?(?:measured|collected|tested|recruited|enrolled|included|investigated|assessed|evaluated|analy[sz]ed|studied|examined"
    r"|obtained|extracted|fitted|prepared|synthesi[sz]ed|fabricated|isolated|sequenced|characteri[sz]ed|detected|identified|observed|described)\b"
    r"|\bwe\s+(?:describe|present|report|propose|introduce|demonstrate)\b|\bhere(?:in)?,?\s+we\b|\b(?:are|is)\s+(?:described|reported)\s+(?:here|for\s+the\s+first)"
    r"|\b(?:is|are)\s+(?:\w+\s+)?(?:investigated|prepared|synthesi[sz]ed|fabricated|characteri[sz]ed|measured|tested|obtained|calculated|simulated|detected)\b"
    r"|\bhere\b[^.]{0,60}\b(?:is|are)\s+(?:described|reported)\b|\bsp\.\s*n(?:ov)?\.",
    re.IGNORECASE,
)
# Results of a study of its own: p values, percentages of a sample, effect estimates, "we found".
RESULTS_REPORTED = re.compile(
    r"\bp\s*[<=>≤]\s*0?\.\d|\b95\s*%\s*C\.?I\b|\b(?:OR|HR|RR|AUC)\s*[=:(]|\bn\s*=\s*\d+|\(\s*\d+(?:\.\d+)?\s*%\s*\)"
    r"|\bsignificant(?:ly)?\s+(?:higher|lower|increased|decreased|reduced|improved|associated|different|more|less|greater)"
    r"|\bwe\s+(?:found|observed|show(?:ed)?|demonstrate[ds]?|identified)\b|\bresults?\s+(?:showed|indicated|revealed)"
    r"|\b(?:increase[sd]?|decrease[sd]?|rose|fell|improved|reduced|changed|declined)\s+from\s+\d+(?:\.\d+)?\s*%?\s+to\s+\d"
    r"|\b(?:patients|participants|subjects|children|women|men|adults|samples|isolates|strains|mice|rats)\s+(?:were|was)\s+(?:\w+\s+)?(?:included|enrolled|recruited|treated|examined|collected|tested|measured|analy[sz]ed)"
    r"|\b(?:was|were)\s+(?:measured|determined|quantified|synthesi[sz]ed|prepared|characteri[sz]ed|performed|conducted|carried\s+out)\b",
    re.IGNORECASE,
)

# A work named inside quotes or 《》 in a title is the subject, not this document ("《指南》解读").
QUOTED_WORK = re.compile(r"《[^》]{2,80}》|“[^”]{2,80}”|\"[^\"]{2,80}\"")

# Where a phrase sits: a sentence describing this work vs. one reporting others' work.
SELF_DESCRIPTION = re.compile(
    r"\bthe\s+(?:present|current)\s+(?:[\w-]+\s+)?(?:study|trial|analysis|review|report|paper|article|work|investigation|survey|guideline|statement)\b"
    r"|\b(?:we|our|this|herein|here|in\s+this)\b.{0,60}?"
    r"\b(?:stud(?:y|ied)|trial|analy[sz]\w*|review\w*|guideline|statement|report\w*|paper|article|document|survey\w*"
    r"|editorial|commentary|viewpoint|essay|perspective"
    r"|chapter|conduct\w*|perform\w*|did|undert\w*|carried\s+out|design\w*|describ\w*|present\w*|search\w*"
    r"|enrol\w*|recruit\w*|includ\w*|randomi[sz]\w*|assign\w*|follow\w*|compar\w*|investigat\w*|examin\w*"
    r"|evaluat\w*|assess\w*|summari[sz]\w*|provid\w*|recommend\w*|aim\w*)\b"
    r"|\bwe\s+(?:\w+ly\s+)?\w+(?:ed|ated)\b|^\s*\**(?:design|methods?|study\s+design|setting|data\s+sources?|participants|objective|purpose|aims?)\**\s*[:：]"
    r"|本(?:研究|文|指南|共识|试验|综述|章|调查)|我们|采用|方法[:：]|目的[:：]",
    re.IGNORECASE,
)
BACKGROUND = re.compile(
    r"\b(?:previous(?:ly)?|prior|earlier|recent(?:ly)?|several|many|numerous|few|existing|other|published|past|current)\b"
    r"[^.。]{0,50}\b(?:stud|trial|meta|review|report|guideline|evidence|RCT|analys)"
    r"|\bevidence\s+from\s+(?:[\w-]+\s+){0,3}(?:trials|studies|RCTs|meta-analyses)\b"
    r"|\b(?:ha(?:ve|s)|had)\s+(?:been\s+)?(?:shown|suggested|reported|demonstrated|found|established|recommended)"
    r"|\b(?:showed|demonstrated|suggested|reported|found)\s+that\b|\baccording\s+to\b|\bin\s+line\s+with\b"
    r"|\bconsistent\s+with\b|\bas\s+recommended\s+by\b|\bcurrent\s+guidelines?\b|\(\s*\d+(?:[,–-]\s*\d+)*\s*\)|\[\d+(?:[,–-]\s*\d+)*\]"
    r"|以往|既往|此前|先前|研究(?:表明|显示|发现|证实)|有研究|文献报道|根据.{0,12}(?:指南|共识)|参照.{0,12}(?:指南|共识)",
    re.IGNORECASE,
)

# A guideline that shows its grading method even where no graded recommendation is in view.
GRADING_METHOD = re.compile(
    r"\bGRADE\s+(?:approach|methodology|method|system|framework|criteria)|\bgrading\s+of\s+recommendations"
    r"|\bstrength\s+of\s+(?:the\s+)?recommendations?|\blevels?\s+of\s+evidence|\bclass(?:es)?\s+of\s+recommendation"
    r"|\bcertainty\s+of\s+(?:the\s+)?evidence|\bquality\s+of\s+(?:the\s+)?evidence\s+was\s+(?:rated|graded|assessed)"
    r"|推荐(?:意见)?(?:强度|等级|分级|类别)|证据(?:质量|等级|级别|水平)(?:分级)?|GRADE\s*(?:方法|系统|分级)",
    re.IGNORECASE,
)
SR_BASIS = re.compile(
    r"\bsystematic(?:al)?\s+(?:literature\s+)?(?:review|search)|\bGRADE\s+(?:approach|methodology|method)|系统(?:评价|检索|综述)|GRADE\s*方法",
    re.IGNORECASE,
)

# Negations that turn a design word around: "non-randomised" is no RCT, "non-systematic" no SR.
NEGATED_RANDOMISED = re.compile(
    r"\bemulat\w*\s+(?:of\s+)?(?:a\s+)?(?:hypothetical\s+|target\s+)?(?:pragmatic\s+)?(?:randomi[sz]ed\s+)?(?:controlled\s+)?trial"
    r"|\bhypothetical\s+(?:randomi[sz]ed\s+)?trial|\bnon-?\s?randomi[sz]ed|\bnot\s+(?:been\s+)?randomi[sz]ed|\bwithout\s+randomi[sz]ation|\bquasi-?\s?randomi[sz]ed"
    r"|\bno\s+randomi[sz]ation|非随机|未随机",
    re.IGNORECASE,
)
NEGATED_SYSTEMATIC = re.compile(r"\bnon-?\s?systematic|\bnot\s+(?:a\s+)?systematic", re.IGNORECASE)

# MeSH terms that name a design. "... as Topic" headings name a
# subject, not the design of the paper, and are ignored.
# Publication types that say what kind of document a record is. NLM's indexers read the full
# article, so with one present it decides the source type: the first row (in this order) whose type
# the record carries gives the kinds allowed; the text may choose among them, else the first wins.
# "Review" allows a systematic review because NLM only added "Systematic Review" in 2019 (older
# systematic reviews carry "Review"); "Clinical Trial" and its phases do not say randomised, so
# they allow an RCT only where the text shows random allocation (else: non-randomised trial,
# cohort); "Observational Study" narrows to the observational designs.
PUBLICATION_TYPE_DECIDES: list[tuple[str, tuple[SourceType, ...]]] = [
    ("practice guideline", (S.GUIDELINE,)),
    ("guideline", (S.GUIDELINE,)),
    ("consensus development conference, nih", (S.CONSENSUS,)),
    ("consensus development conference", (S.CONSENSUS,)),
    ("consensus statement", (S.CONSENSUS,)),
    ("clinical trial protocol", (S.OTHER,)),
    ("randomized controlled trial, veterinary", (S.OTHER,)),
    ("meta-analysis", (S.SYSTEMATIC_REVIEW,)),
    ("network meta-analysis", (S.SYSTEMATIC_REVIEW,)),
    ("systematic review", (S.SYSTEMATIC_REVIEW,)),
    ("randomized controlled trial", (S.RCT,)),
    ("case reports", (S.CASE_SERIES,)),
    ("editorial", (S.EXPERT_OPINION,)),
    ("comment", (S.EXPERT_OPINION,)),
    ("letter", (S.EXPERT_OPINION,)),
    ("textbooks", (S.TEXTBOOK,)),
    ("review", (S.NARRATIVE_REVIEW, S.SYSTEMATIC_REVIEW)),
    ("scoping review", (S.NARRATIVE_REVIEW, S.SYSTEMATIC_REVIEW)),
    ("equivalence trial", (S.RCT, S.COHORT)),
    ("pragmatic clinical trial", (S.RCT, S.COHORT)),
    ("controlled clinical trial", (S.COHORT, S.RCT)),
    ("clinical trial, phase iv", (S.COHORT, S.RCT)),
    ("clinical trial, phase iii", (S.COHORT, S.RCT)),
    ("clinical trial, phase ii", (S.COHORT, S.RCT)),
    ("clinical trial, phase i", (S.COHORT, S.RCT)),
    ("clinical trial", (S.COHORT, S.RCT)),
    ("observational study", (S.COHORT, S.CASE_CONTROL, S.CROSS_SECTIONAL, S.CASE_SERIES)),
    ("twin study", (S.COHORT, S.CASE_CONTROL, S.CROSS_SECTIONAL)),
]

IGNORED_PUBLICATION_TYPES = {
    "comparative study", "multicenter study", "journal article", "research support, non-u.s. gov't",
    "research support, n.i.h., extramural", "research support, u.s. gov't, non-p.h.s.", "validation study",
    "evaluation study", "english abstract",
}
MESH_TERMS: dict[str, tuple[CueKind, float]] = {
    "cohort studies": (S.COHORT, 3.0),
    "prospective studies": (S.COHORT, 1.5),  # how data were gathered, not the design: a case series can be prospective
    "retrospective studies": (S.COHORT, 1.0),  # NLM adds it to retrospective case series and case-control studies too
    "longitudinal studies": (S.COHORT, 3.0),
    "follow-up studies": (S.COHORT, 1.0),
    "case-control studies": (S.CASE_CONTROL, 4.0),
    "cross-sectional studies": (S.CROSS_SECTIONAL, 4.0),
    "random allocation": (S.RCT, 2.0),
    "double-blind method": (S.RCT, 2.0),
    "single-blind method": (S.RCT, 1.5),
    "surveys and questionnaires": (S.CROSS_SECTIONAL, 1.5),
    "animals": (PRECLINICAL, 1.5),
}
