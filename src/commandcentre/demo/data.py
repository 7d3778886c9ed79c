"""Deterministic, fictional demo data: events, speakers, contacts, target accounts and intel.

Everything comes from the word lists below, a seeded Faker instance and a seeded
``random.Random``, so the same ``(today, seed)`` always gives the same records. Dates
are relative to ``today`` so a demo never shows past events as "upcoming".

The data is deliberately a little messy in the ways real imports are: people spell
their employer differently, some non-target companies look like target accounts and
some speakers appear at several events. That gives matching and opportunity
detection something real to chew on.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone

from faker import Faker

from commandcentre.intel.importers.records import (
    AccountRecord,
    EventRecord,
    IntelRecord,
    PersonRecord,
    SessionRecord,
)

EVENT_COUNT = 30
TARGET_COUNT = 40
OTHER_COMPANY_COUNT = 60
LOOKALIKE_COUNT = 12
PEOPLE_COUNT = 400
# 240 of 400 people (60 %) work at target accounts.
TARGET_PEOPLE_COUNT = 240
# People set aside as possible speakers; whoever is not needed on stage becomes a contact.
SPEAKER_POOL_COUNT = 290
# Regulars of the conference circuit, placed at two or three events each.
CIRCUIT_TARGET_SPEAKERS = 14
CIRCUIT_OTHER_SPEAKERS = 6
# Events without target-account speakers, so opportunity detection also sees negatives.
QUIET_EVENT_COUNT = 6
TIER_COUNTS = ((1, 8), (2, 17), (3, 15))
FIRST_EVENT_OFFSET_DAYS = 5
LAST_EVENT_OFFSET_DAYS = 150
INTEL_WINDOW_DAYS = 180

LOCALES = ("en_GB", "en_US", "de_DE", "fr_FR", "nl_NL", "es_ES", "sv_SE")


@dataclass(frozen=True, slots=True)
class _Region:
    locale: str
    country: str
    tld: str
    legal_suffixes: tuple[str, ...]
    # (city, IANA zone) pairs where companies of this region have their head office.
    hubs: tuple[tuple[str, str], ...]


REGIONS: tuple[_Region, ...] = (
    _Region(
        "en_GB",
        "United Kingdom",
        "co.uk",
        ("Ltd", "plc", "Limited"),
        (
            ("London", "Europe/London"),
            ("Manchester", "Europe/London"),
            ("Bristol", "Europe/London"),
        ),
    ),
    _Region(
        "en_US",
        "United States",
        "com",
        ("Inc.", "LLC", "Corp."),
        (
            ("New York", "America/New_York"),
            ("Boston", "America/New_York"),
            ("San Francisco", "America/Los_Angeles"),
            ("Seattle", "America/Los_Angeles"),
        ),
    ),
    _Region(
        "de_DE",
        "Germany",
        "de",
        ("GmbH", "AG", "SE"),
        (("Berlin", "Europe/Berlin"), ("Munich", "Europe/Berlin"), ("Hamburg", "Europe/Berlin")),
    ),
    _Region(
        "fr_FR",
        "France",
        "fr",
        ("SAS", "SA"),
        (("Paris", "Europe/Paris"), ("Lyon", "Europe/Paris")),
    ),
    _Region(
        "nl_NL",
        "Netherlands",
        "nl",
        ("B.V.", "N.V."),
        (
            ("Amsterdam", "Europe/Amsterdam"),
            ("Rotterdam", "Europe/Amsterdam"),
            ("Utrecht", "Europe/Amsterdam"),
        ),
    ),
    _Region(
        "es_ES",
        "Spain",
        "es",
        ("S.L.", "S.A."),
        (("Madrid", "Europe/Madrid"), ("Barcelona", "Europe/Madrid")),
    ),
    _Region(
        "sv_SE",
        "Sweden",
        "se",
        ("AB",),
        (("Stockholm", "Europe/Stockholm"), ("Gothenburg", "Europe/Stockholm")),
    ),
)
REGION_WEIGHTS = (22, 26, 16, 10, 10, 8, 8)

# How people sometimes spell a legal form differently from the company register.
SUFFIX_VARIANTS: dict[str, str] = {
    "Ltd": "Limited",
    "Limited": "Ltd.",
    "plc": "PLC",
    "Inc.": "Inc",
    "LLC": "L.L.C.",
    "Corp.": "Corporation",
    "GmbH": "Gmbh",
    "AG": "A.G.",
    "SE": "S.E.",
    "SAS": "S.A.S.",
    "SA": "S.A.",
    "B.V.": "BV",
    "N.V.": "NV",
    "S.L.": "SL",
    "S.A.": "SA",
    "AB": "AB (publ)",
}
LEGAL_SUFFIXES: tuple[str, ...] = tuple(
    sorted({s for region in REGIONS for s in region.legal_suffixes} | set(SUFFIX_VARIANTS.values()))
)

# Invented company stems; checked against well-known brands so none of them is one.
COMPANY_PREFIXES: tuple[str, ...] = (
    "Northwind", "Helix", "Bluefin", "Copperleaf", "Kestrel", "Marlowe", "Ashgrove",
    "Brightwater", "Cinderpeak", "Driftwood", "Emberline", "Fernhollow", "Glasswing",
    "Harborview", "Ironbark", "Larkspur", "Moonrail", "Nettlefield", "Oakhaven", "Pinecrest",
    "Quillfeather", "Ravenmoor", "Saltmarsh", "Thistledown", "Umberfield", "Velvetine",
    "Willowmere", "Yarrowby", "Zephyrine", "Alderbrook", "Birchvale", "Caldermoor", "Dunmarrow",
    "Eastmere", "Foxglove", "Greyhaven", "Hollowell", "Inverlake", "Kitteridge", "Meridale",
    "Norrbrook", "Orchidea", "Pebblestone", "Quarrymoor", "Rookwood", "Sablecrest", "Tarnwick",
    "Wrenfield", "Xylora", "Yewbridge", "Aldova", "Brevik", "Corvana", "Delmora", "Estrano",
    "Falkora", "Hestova", "Kalvero", "Lumora", "Mirravel", "Norvale", "Pellora", "Quintara",
    "Rivenna", "Solvara", "Tavrin", "Ulvena", "Vesmira", "Wexmoor", "Zorvath", "Amberlyn",
    "Coldharbour", "Dapplegrey", "Elmstead", "Fallowfield", "Gildersleeve", "Hazelmere",
    "Ivystone", "Jadeport", "Kingsmoor", "Lanternfish", "Mossbank", "Nightjar", "Otterburn",
    "Puffinry", "Quaystone", "Silverbirch", "Upwell", "Whitlock", "Yellowhammer", "Zinnwald",
    "Auklet", "Bramblecote", "Cobaltine", "Dovecote", "Eiderway", "Flintlock", "Heronsgate",
    "Icefern", "Marshwood",
)  # fmt: skip

# (sector word in the company name, industry shown on the account)
SECTORS: tuple[tuple[str, str], ...] = (
    ("Analytics", "Data & Analytics"),
    ("Robotics", "Industrial Automation"),
    ("Payments", "Financial Services"),
    ("Logistics", "Transport & Logistics"),
    ("Health", "Healthcare"),
    ("Security", "Cybersecurity"),
    ("Systems", "Enterprise Software"),
    ("Labs", "Software"),
    ("Energy", "Energy & Utilities"),
    ("Insurance", "Insurance"),
    ("Cloud", "Cloud Infrastructure"),
    ("Software", "Enterprise Software"),
    ("Biosciences", "Life Sciences"),
    ("Networks", "Telecommunications"),
    ("Mobility", "Automotive & Mobility"),
    ("Capital", "Financial Services"),
    ("Retail", "Retail & E-commerce"),
    ("Foods", "Food & Beverage"),
    ("Materials", "Manufacturing"),
    ("Media", "Media & Publishing"),
)

# Companies agree on one address scheme for everybody, as real mail servers do.
EMAIL_PATTERNS: tuple[tuple[str, int], ...] = (
    ("first.last", 50),
    ("flast", 20),
    ("firstl", 10),
    ("first_last", 12),
    ("first", 8),
)

# Person time zones by locale; US people split between the coasts.
LOCALE_ZONES: dict[str, tuple[str, ...]] = {
    "en_GB": ("Europe/London",),
    "en_US": ("America/New_York", "America/Los_Angeles"),
    "de_DE": ("Europe/Berlin",),
    "fr_FR": ("Europe/Paris",),
    "nl_NL": ("Europe/Amsterdam",),
    "es_ES": ("Europe/Madrid",),
    "sv_SE": ("Europe/Stockholm",),
}


@dataclass(frozen=True, slots=True)
class _Theme:
    key: str
    field: str
    stems: tuple[str, ...]
    audience: str
    topics: tuple[str, ...]
    systems: tuple[str, ...]
    tracks: tuple[str, ...]


THEMES: tuple[_Theme, ...] = (
    _Theme(
        "data",
        "data engineering",
        ("Data Leaders", "Analytics Engineering", "Modern Data"),
        "data leaders and engineers",
        ("data contracts", "data mesh", "streaming pipelines", "data quality",
         "lakehouse architecture", "semantic layers", "data governance"),
        ("data platform", "warehouse", "event pipeline", "metrics layer"),
        ("Data Engineering", "Analytics", "Governance"),
    ),
    _Theme(
        "cloud",
        "cloud infrastructure",
        ("Cloud Native", "Cloud Architecture", "Serverless Builders"),
        "cloud architects and platform teams",
        ("Kubernetes operations", "multi-cloud networking", "cloud cost optimisation",
         "serverless workloads", "service meshes", "infrastructure as code"),
        ("cluster fleet", "landing zone", "deployment platform", "edge network"),
        ("Architecture", "Operations", "FinOps"),
    ),
    _Theme(
        "security",
        "security engineering",
        ("Security Leaders", "AppSec", "Zero Trust"),
        "security leaders and practitioners",
        ("zero-trust networking", "software supply chain security", "threat modelling",
         "identity and access management", "incident response", "cloud security posture"),
        ("identity platform", "security operations centre", "secrets pipeline",
         "vulnerability programme"),
        ("Defence", "Governance & Risk", "AppSec"),
    ),
    _Theme(
        "fintech",
        "financial technology",
        ("Fintech", "Payments Innovation", "Open Banking"),
        "payments and banking teams",
        ("real-time payments", "open banking APIs", "fraud detection", "embedded finance",
         "regulatory reporting", "ledger design"),
        ("payments stack", "core banking system", "ledger", "risk engine"),
        ("Payments", "Risk & Compliance", "Banking Platforms"),
    ),
    _Theme(
        "ai",
        "machine learning",
        ("Applied AI", "Machine Learning", "Generative AI"),
        "ML engineers and product leaders",
        ("LLM evaluation", "retrieval-augmented generation", "feature stores",
         "model monitoring", "responsible AI", "ML platform design"),
        ("ML platform", "recommendation engine", "inference service", "training pipeline"),
        ("Applied ML", "MLOps", "AI Strategy"),
    ),
    _Theme(
        "devops",
        "site reliability",
        ("DevOps Leaders", "Continuous Delivery", "SRE"),
        "engineering and operations teams",
        ("continuous delivery", "incident management", "observability",
         "SLOs and error budgets", "release engineering", "chaos engineering"),
        ("CI pipeline", "on-call rotation", "release process", "monitoring stack"),
        ("Delivery", "Reliability", "Culture"),
    ),
    _Theme(
        "product",
        "product management",
        ("Product Leaders", "Product-Led Growth", "B2B Product"),
        "product managers and designers",
        ("product discovery", "pricing experiments", "product analytics", "roadmap planning",
         "B2B onboarding", "customer research"),
        ("onboarding flow", "pricing model", "experimentation platform", "product roadmap"),
        ("Strategy", "Discovery", "Growth"),
    ),
    _Theme(
        "platform",
        "platform engineering",
        ("Platform Engineering", "Developer Experience", "Internal Platforms"),
        "platform engineers and engineering leaders",
        ("internal developer platforms", "golden paths", "developer productivity",
         "self-service infrastructure", "API governance", "service catalogues"),
        ("developer portal", "build system", "service catalogue", "platform API"),
        ("Platform", "Developer Experience", "Leadership"),
    ),
    _Theme(
        "saas",
        "B2B go-to-market",
        ("SaaS Growth", "Revenue Operations", "B2B Marketing"),
        "revenue and go-to-market teams",
        ("account-based marketing", "sales forecasting", "customer success",
         "usage-based pricing", "partner ecosystems", "pipeline analytics"),
        ("CRM", "revenue engine", "partner programme", "forecasting model"),
        ("Revenue", "Marketing", "Customer Success"),
    ),
)  # fmt: skip
_THEMES_BY_KEY: dict[str, _Theme] = {theme.key: theme for theme in THEMES}

# (title, weight, theme key or "" when the role is not tied to one field)
TITLES: tuple[tuple[str, int, str], ...] = (
    ("Chief Executive Officer", 2, ""),
    ("Chief Technology Officer", 3, "cloud"),
    ("Chief Data Officer", 2, "data"),
    ("Chief Information Security Officer", 2, "security"),
    ("Chief Product Officer", 2, "product"),
    ("Chief Revenue Officer", 1, "saas"),
    ("Co-founder & CTO", 1, "ai"),
    ("VP Engineering", 4, "platform"),
    ("VP of Data", 2, "data"),
    ("VP Product", 2, "product"),
    ("VP Sales", 2, "saas"),
    ("VP Infrastructure", 1, "cloud"),
    ("Director of Engineering", 5, "devops"),
    ("Director of Data Science", 2, "ai"),
    ("Director, Cloud Infrastructure", 2, "cloud"),
    ("Director of Security Operations", 2, "security"),
    ("Director of Payments", 2, "fintech"),
    ("Head of Data", 4, "data"),
    ("Head of Platform", 3, "platform"),
    ("Head of Security", 3, "security"),
    ("Head of Developer Relations", 2, "platform"),
    ("Head of Product", 3, "product"),
    ("Head of Partnerships", 2, "saas"),
    ("Head of Risk Technology", 1, "fintech"),
    ("Head of Procurement", 1, ""),
    ("Principal Engineer", 4, ""),
    ("Staff Engineer", 5, ""),
    ("Senior Software Engineer", 8, ""),
    ("Senior Data Engineer", 5, "data"),
    ("Staff Data Scientist", 2, "ai"),
    ("Principal Security Architect", 2, "security"),
    ("Engineering Manager", 6, "devops"),
    ("Product Manager", 5, "product"),
    ("Senior Product Manager", 3, "product"),
    ("Data Engineering Manager", 2, "data"),
    ("Software Engineer", 6, ""),
    ("Data Engineer", 4, "data"),
    ("Site Reliability Engineer", 4, "devops"),
    ("Machine Learning Engineer", 4, "ai"),
    ("Security Engineer", 3, "security"),
    ("Payments Engineer", 2, "fintech"),
    ("Data Scientist", 3, "ai"),
    ("Solutions Architect", 3, "cloud"),
    ("Developer Advocate", 3, "platform"),
    ("Platform Engineer", 3, "platform"),
    ("Account Executive", 2, "saas"),
)

BIO_TEMPLATES: tuple[str, ...] = (
    "{first} is {a_title} at {short}, working on {topic}. "
    "Before joining {short}, {first} spent {years} years at {previous}.",
    "{first} leads work on {topic} as {a_title} at {short}. "
    "A regular speaker on {topic2}, {first} is based in {city}.",
    "As {a_title} at {short}, {first} looks after {topic} across the company. "
    "{first} previously worked at {previous} and writes about {topic2}.",
    "{first} joined {short} {tenure} years ago and is now {a_title}. "
    "Day to day that means {topic}, {topic2} and a lot of hiring.",
    "{first} has spent {years} years in {field}, most recently as {a_title} at {short}. "
    "Outside work, {first} mentors early-career engineers in {city}.",
)

# (name word, description noun, min days, max days, min sessions, max sessions)
EVENT_FORMATS: tuple[tuple[str, str, int, int, int, int], ...] = (
    ("Summit", "summit", 1, 2, 6, 15),
    ("Conference", "conference", 2, 3, 8, 15),
    ("Forum", "forum", 1, 2, 5, 12),
    ("Symposium", "symposium", 1, 2, 5, 12),
    ("Expo", "expo", 1, 2, 6, 14),
    ("Meetup", "meetup", 1, 1, 4, 6),
)
ONLINE_FORMATS: tuple[tuple[str, str, int, int, int, int], ...] = (
    ("Live", "live event", 1, 1, 4, 10),
    ("Virtual Summit", "virtual summit", 1, 2, 6, 12),
    ("Online Forum", "online forum", 1, 1, 4, 8),
)
ONLINE_EVENT_COUNT = 5
EVENT_TLDS = ("events", "io", "tech", "dev", "com")

# (city, country, UTC offset in hours). Offsets are standard-time approximations; no city
# is further than UTC-6 or UTC+9, so local 09:00-17:00 stays on the same UTC date.
EVENT_CITIES: tuple[tuple[str, str, float], ...] = (
    ("London", "United Kingdom", 0),
    ("Manchester", "United Kingdom", 0),
    ("Edinburgh", "United Kingdom", 0),
    ("Dublin", "Ireland", 0),
    ("Lisbon", "Portugal", 0),
    ("Berlin", "Germany", 1),
    ("Munich", "Germany", 1),
    ("Hamburg", "Germany", 1),
    ("Paris", "France", 1),
    ("Lyon", "France", 1),
    ("Amsterdam", "Netherlands", 1),
    ("Rotterdam", "Netherlands", 1),
    ("Madrid", "Spain", 1),
    ("Barcelona", "Spain", 1),
    ("Stockholm", "Sweden", 1),
    ("Copenhagen", "Denmark", 1),
    ("Zurich", "Switzerland", 1),
    ("Vienna", "Austria", 1),
    ("Warsaw", "Poland", 1),
    ("Helsinki", "Finland", 2),
    ("New York", "United States", -5),
    ("Boston", "United States", -5),
    ("Toronto", "Canada", -5),
    ("Austin", "United States", -6),
    ("Chicago", "United States", -6),
    ("Dubai", "United Arab Emirates", 4),
    ("Bengaluru", "India", 5.5),
    ("Singapore", "Singapore", 8),
    ("Tokyo", "Japan", 9),
)
ROOM_SETS: tuple[tuple[str, ...], ...] = (
    ("Main Stage", "Hall B", "Room 3"),
    ("Auditorium", "Room 1.01", "Room 1.02"),
    ("Plenary Hall", "Studio", "Workshop Room"),
    ("Keynote Hall", "Track Room A", "Track Room B"),
)
ONLINE_ROOMS = ("Stage 1", "Stage 2", "Breakout Room")

# Local start times of a conference day; every slot ends by 17:00.
DAY_SLOTS: tuple[tuple[int, int], ...] = (
    (9, 0),
    (10, 0),
    (11, 15),
    (13, 0),
    (14, 0),
    (15, 15),
    (16, 15),
)
DAY_END_MINUTES = 17 * 60
SESSION_MINUTES: dict[str, int] = {
    "keynote": 45,
    "talk": 40,
    "panel": 45,
    "workshop": 60,
    "lightning": 20,
}

TALK_TITLES: tuple[str, ...] = (
    "{Topic} in production: what we got wrong",
    "Scaling {topic} at {short}",
    "From zero to {topic} in {months} months",
    "The hidden cost of {topic}",
    "{Topic} without the pain",
    "How {short} rebuilt its {system} around {topic}",
    "A field guide to {topic}",
    "What {number} teams taught us about {topic}",
    "Lessons from moving our {system} to {topic}",
    "{Topic}: patterns that survive contact with reality",
    "Making {topic} boring, in a good way",
    "Measuring what matters in {topic}",
)
KEYNOTE_TITLES: tuple[str, ...] = (
    "The next five years of {field}",
    "Keynote: {topic} and the road ahead",
    "{Topic}: a leadership problem in disguise",
)
PANEL_TITLES: tuple[str, ...] = (
    "Panel: {topic} in the real world",
    "Panel: what we would do differently with {topic}",
    "Ask the practitioners: {topic}",
)
WORKSHOP_TITLES: tuple[str, ...] = (
    "Workshop: hands-on {topic}",
    "Workshop: designing {a_system} for {topic}",
)
LIGHTNING_TITLES: tuple[str, ...] = (
    "Lightning talk: one trick for {topic}",
    "Lightning talk: {topic} in ten minutes",
)
TALK_ABSTRACTS: tuple[str, ...] = (
    "{short} moved its {system} to {topic} over the last {months} months. "
    "This talk walks through the decisions, the trade-offs and the numbers behind them. "
    "Expect {takeaway}.",
    "Most teams underestimate {topic}. "
    "{first} shares what {short} learned about {topic} across {number} teams, "
    "including the parts that did not work.",
    "On paper, getting {topic} right looks simple; then comes the first outage. "
    "Using real incidents from {short}, this session shows where the sharp edges are. "
    "Attendees leave with {takeaway}.",
    "What does good {topic} look like in a company the size of {short}? "
    "{first} covers the architecture, the team set-up and the metrics that convinced leadership.",
)
KEYNOTE_ABSTRACTS: tuple[str, ...] = (
    "{first} of {short} looks at where {field} is heading and what it means for {audience}. "
    "A view from the front line, with {takeaway}.",
    "After {number} years of {field}, {short} has opinions. "
    "{first} opens the event with the bets that paid off and the ones that did not.",
)
PANEL_ABSTRACTS: tuple[str, ...] = (
    "Practitioners from {companies} compare notes on {topic}. "
    "A candid conversation about budgets, hiring and what actually ships.",
    "Is the effort behind {topic} worth it yet? "
    "Speakers from {companies} disagree, politely, and take questions from the floor.",
)
WORKSHOP_ABSTRACTS: tuple[str, ...] = (
    "Bring a laptop: this hands-on session designs {a_system} for {topic} step by step. "
    "Participants leave with {takeaway}.",
)
LIGHTNING_ABSTRACTS: tuple[str, ...] = (
    "Ten minutes, one idea: {first} from {short} shows a small change to {topic} "
    "that paid off quickly. Short, practical and opinionated.",
)
TAKEAWAYS: tuple[str, ...] = (
    "a checklist to use on Monday",
    "concrete patterns and anti-patterns",
    "a reference architecture",
    "a realistic migration plan",
    "a short list of metrics worth tracking",
    "templates the team still uses today",
)

INTEL_CATEGORIES = (
    "funding",
    "hiring",
    "product_launch",
    "leadership_change",
    "partnership",
    "earnings",
)
INVESTORS: tuple[str, ...] = (
    "Greyline Ventures", "Harrowgate Capital", "Oakmere Partners", "Saltbridge Ventures",
    "Northfold Capital", "Kilnworth Growth", "Brackenridge Partners", "Lindholm Ventures",
    "Marchmont Capital", "Ternwood Ventures",
)  # fmt: skip
PRODUCT_WORDS: tuple[str, ...] = (
    "Pulse", "Atlas", "Beacon", "Compass", "Forge", "Lens", "Orbit", "Relay", "Sentinel",
    "Signal", "Vault", "Canvas", "Keel", "Loom",
)  # fmt: skip
EXECUTIVE_TITLES: tuple[str, ...] = (
    "Chief Technology Officer",
    "Chief Financial Officer",
    "Chief Revenue Officer",
    "Chief Product Officer",
    "Chief Information Security Officer",
    "Chief Data Officer",
)
HIRING_AREAS: tuple[str, ...] = (
    "platform engineering, data and security",
    "machine learning and product",
    "customer success and solutions engineering",
    "infrastructure and site reliability",
)
GROWTH_DRIVERS: tuple[str, ...] = (
    "enterprise renewals in Europe",
    "new customers in North America",
    "the move to usage-based pricing",
    "strong demand for its platform tier",
)
ACCOUNT_NOTES: tuple[str, ...] = (
    "Champion in the {department} team; budget confirmed for next year.",
    "Uses a competitor today; contract renews in Q{quarter}.",
    "Inbound interest from the {department} team after a webinar.",
    "Expansion opportunity across {number} business units.",
    "Strategic logo for the {industry} vertical.",
    "New {department} leadership; worth re-introducing ourselves.",
)
MONTH_NAMES: tuple[str, ...] = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
DEPARTMENTS: tuple[str, ...] = ("data", "platform", "security", "product", "finance", "IT")


@dataclass(frozen=True, slots=True)
class DemoData:
    """A complete, consistent demo workspace; see ``generate_demo_data``."""

    events: list[EventRecord]
    contacts: list[PersonRecord]
    accounts: list[AccountRecord]
    intel: list[IntelRecord]
    attendees: dict[str, list[str]]
    # Ground truth for matching: email -> canonical name of the person's real employer,
    # whatever spelling the person used for `organisation`.
    employers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Company:
    name: str
    short_name: str
    prefix: str
    legal_suffix: str
    industry: str
    domain: str
    region: _Region
    hq_city: str
    hq_zone: str
    email_pattern: str
    is_target: bool
    tier: int = 0
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Person:
    record: PersonRecord
    company: _Company

    @property
    def email(self) -> str:
        return self.record.email or ""


@dataclass(slots=True)
class _SessionPlan:
    kind: str
    starts_at: datetime
    ends_at: datetime
    room: str
    track: str
    speakers: list[_Person | None]


@dataclass(slots=True)
class _EventPlan:
    name: str
    theme: _Theme
    start: date
    end: date
    city: str | None
    country: str | None
    topics: tuple[str, ...]
    url: str
    description: str
    sessions: list[_SessionPlan]
    quiet: bool = False
    open_slots: list[tuple[int, int]] = field(default_factory=list)
    speaker_emails: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Context:
    """The two seeded sources of randomness plus uniqueness bookkeeping."""

    rng: random.Random
    fake: Faker
    today: date
    used_emails: set[str] = field(default_factory=set)
    used_slugs: set[str] = field(default_factory=set)


def generate_demo_data(*, today: date, seed: int = 7) -> DemoData:
    """Build the demo workspace for ``today``; identical inputs give identical output."""
    fake = Faker(list(LOCALES))
    fake.seed_instance(seed)
    ctx = _Context(rng=random.Random(seed), fake=fake, today=today)
    targets, others = _build_companies(ctx)
    people = _build_people(ctx, targets, others)
    plans = _plan_events(ctx)
    speakers, spare = people[:SPEAKER_POOL_COUNT], people[SPEAKER_POOL_COUNT:]
    used = _assign_speakers(ctx.rng, plans, speakers)
    used_emails = {person.email for person in used}
    contacts = [p for p in speakers if p.email not in used_emails] + spare
    events = [_event_record(ctx.rng, plan, seed, index) for index, plan in enumerate(plans)]
    return DemoData(
        events=events,
        contacts=[person.record for person in contacts],
        accounts=_account_records(ctx.rng, targets),
        intel=_intel_records(ctx, targets, others),
        attendees=_attendees(ctx.rng, plans, contacts),
        employers={person.email: person.company.name for person in people},
    )


# --- text helpers -------------------------------------------------------------------

_TRANSLITERATION = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ł": "l", "đ": "d"}
)


def _ascii_words(text: str) -> list[str]:
    """Lower-case ASCII words of a name, so 'Jürgen Weiß' can become an address."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATION))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return re.findall(r"[a-z0-9]+", plain)


def _slug(text: str, sep: str = "-") -> str:
    return sep.join(_ascii_words(text))


def _article(phrase: str) -> str:
    first_word = phrase.split(" ", 1)[0]
    # Acronyms are read letter by letter: "an ML platform", "a CRM".
    if len(first_word) > 1 and first_word.rstrip("s").isupper():
        vowel_sound = first_word[0] in "AEFHILMNORSX"
    else:
        vowel_sound = first_word[:1].lower() in "aeiou"
    return f"{'an' if vowel_sound else 'a'} {phrase}"


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _long_date(day: date) -> str:
    # Spelled out by hand because strftime's month names follow the process locale.
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]


# --- companies ----------------------------------------------------------------------


def _build_companies(ctx: _Context) -> tuple[list[_Company], list[_Company]]:
    rng = ctx.rng
    prefixes = list(COMPANY_PREFIXES)
    rng.shuffle(prefixes)
    domains: set[str] = set()
    targets = [
        _company(ctx, prefix, rng.choice(SECTORS), True, domains)
        for prefix in prefixes[:TARGET_COUNT]
    ]
    # Same stem, different business: "Northwind Analytics" vs "Northwind Logistics".
    lookalikes = [
        _company(ctx, t.prefix, _other_sector(rng, t), False, domains)
        for t in rng.sample(targets, LOOKALIKE_COUNT)
    ]
    fresh_count = OTHER_COMPANY_COUNT - LOOKALIKE_COUNT
    fresh_prefixes = prefixes[TARGET_COUNT : TARGET_COUNT + fresh_count]
    others = lookalikes + [
        _company(ctx, prefix, rng.choice(SECTORS), False, domains) for prefix in fresh_prefixes
    ]
    rng.shuffle(others)
    taken = {c.short_name.casefold() for c in targets + others}
    tiers = [tier for tier, count in TIER_COUNTS for _ in range(count)]
    rng.shuffle(tiers)
    targets = [
        replace(company, tier=tier, aliases=_aliases(rng, company, taken))
        for company, tier in zip(targets, tiers, strict=True)
    ]
    return targets, others


def _other_sector(rng: random.Random, company: _Company) -> tuple[str, str]:
    return rng.choice([s for s in SECTORS if not company.short_name.endswith(s[0])])


def _company(
    ctx: _Context, prefix: str, sector: tuple[str, str], is_target: bool, domains: set[str]
) -> _Company:
    rng = ctx.rng
    region = rng.choices(REGIONS, weights=REGION_WEIGHTS)[0]
    short_name = f"{prefix} {sector[0]}"
    legal_suffix = rng.choice(region.legal_suffixes)
    city, zone = rng.choice(region.hubs)
    # Many companies are known without their legal form, like "Northwind Analytics".
    name = f"{short_name} {legal_suffix}" if rng.random() < 0.6 else short_name
    return _Company(
        name=name,
        short_name=short_name,
        prefix=prefix,
        legal_suffix=legal_suffix,
        industry=sector[1],
        domain=_domain(rng, short_name, region, domains),
        region=region,
        hq_city=city,
        hq_zone=zone,
        email_pattern=_weighted(rng, EMAIL_PATTERNS),
        is_target=is_target,
    )


def _domain(rng: random.Random, short_name: str, region: _Region, taken: set[str]) -> str:
    base = _slug(short_name, "-" if rng.random() < 0.2 else "")
    preferred = rng.choices((region.tld, "com", "io"), weights=(55, 30, 15))[0]
    for tld in (preferred, region.tld, "com", "io"):
        if f"{base}.{tld}" not in taken:
            taken.add(f"{base}.{tld}")
            return f"{base}.{tld}"
    fallback = f"{base}hq.com"
    taken.add(fallback)
    return fallback


def _aliases(rng: random.Random, company: _Company, taken: set[str]) -> tuple[str, ...]:
    aliases: list[str] = []
    if company.name != company.short_name and rng.random() < 0.7:
        aliases.append(company.short_name)
    if company.prefix.casefold() not in taken and rng.random() < 0.2:
        aliases.append(company.prefix)
    # A former name after a rebrand, only when no other company uses it.
    former = f"{company.prefix} {rng.choice(SECTORS)[0]}"
    if former.casefold() not in taken and rng.random() < 0.15:
        aliases.append(former)
    return tuple(aliases)


# --- people ------------------------------------------------------------------------


def _build_people(ctx: _Context, targets: list[_Company], others: list[_Company]) -> list[_Person]:
    # Bigger (tier 1) accounts have more people on the conference circuit.
    weights = [{1: 3, 2: 2, 3: 1}[company.tier] for company in targets]
    employers = _employers(ctx.rng, targets, TARGET_PEOPLE_COUNT, weights)
    employers += _employers(ctx.rng, others, PEOPLE_COUNT - TARGET_PEOPLE_COUNT, None)
    ctx.rng.shuffle(employers)
    return [_person(ctx, company, others) for company in employers]


def _employers(
    rng: random.Random, companies: list[_Company], total: int, weights: list[int] | None
) -> list[_Company]:
    # Everybody gets at least one person (two for targets), the rest follow the weights.
    floor = 2 if companies[0].is_target else 1
    assigned = [company for company in companies for _ in range(floor)]
    assigned += rng.choices(companies, weights=weights, k=total - len(assigned))
    return assigned


def _person(ctx: _Context, company: _Company, others: list[_Company]) -> _Person:
    rng, fake = ctx.rng, ctx.fake
    locale = company.region.locale if rng.random() < 0.7 else rng.choice(LOCALES)
    first, last = _name(rng, fake, locale)
    title, theme_key = _title(rng)
    zone = company.hq_zone if locale == company.region.locale else rng.choice(LOCALE_ZONES[locale])
    theme = _THEMES_BY_KEY.get(theme_key) or rng.choice(THEMES)
    previous = rng.choice([c for c in others if c is not company]).short_name
    record = PersonRecord(
        full_name=f"{first} {last}",
        first_name=first,
        last_name=last,
        email=_email(ctx, first, last, company),
        title=title,
        organisation=_organisation_label(rng, company),
        linkedin_url=_linkedin(ctx, first, last),
        bio=_bio(rng, first, title, company, theme, previous, zone),
        timezone=zone,
    )
    return _Person(record=record, company=company)


def _name(rng: random.Random, fake: Faker, locale: str) -> tuple[str, str]:
    generator = fake[locale]
    first = _clean_name(generator.first_name)
    last = _clean_name(generator.last_name)
    # Spanish names usually carry both family names.
    if locale == "es_ES" and rng.random() < 0.5:
        second = _clean_name(generator.last_name)
        if second != last:
            last = f"{last} {second}"
    return first, last


def _clean_name(draw: Callable[[], object]) -> str:
    # Some locales list register forms ("Hans-J.", "Bourgondië, van") nobody signs up with.
    name = str(draw())
    while "." in name or "," in name:
        name = str(draw())
    return name


def _title(rng: random.Random) -> tuple[str, str]:
    index = rng.choices(range(len(TITLES)), weights=[t[1] for t in TITLES])[0]
    return TITLES[index][0], TITLES[index][2]


def _email(ctx: _Context, first: str, last: str, company: _Company) -> str:
    f, ln = _slug(first), _slug(last, "")
    by_pattern = {
        "first.last": f"{f}.{ln}",
        "flast": f"{f[:1]}{ln}",
        "firstl": f"{f}{ln[:1]}",
        "first_last": f"{f}_{ln}",
        "first": f,
    }
    candidates = [by_pattern[company.email_pattern], f"{f}.{ln}"]
    candidates += [f"{f}.{ln}{n}" for n in range(2, 100)]
    for local in candidates:
        email = f"{local}@{company.domain}"
        if email not in ctx.used_emails:
            ctx.used_emails.add(email)
            return email
    raise RuntimeError(f"could not find a free address for {first} {last}")


def _linkedin(ctx: _Context, first: str, last: str) -> str:
    base = f"{_slug(first)}-{_slug(last)}"
    slug = base
    # Common names get LinkedIn's random suffix; so does anybody whose slug is taken.
    while slug in ctx.used_slugs or (slug == base and ctx.rng.random() < 0.5):
        slug = f"{base}-{ctx.rng.randrange(16**7, 16**8):08x}"
    ctx.used_slugs.add(slug)
    return f"https://www.linkedin.com/in/{slug}"


def _organisation_label(rng: random.Random, company: _Company) -> str:
    if not company.is_target:
        return company.name if rng.random() < 0.7 else company.short_name
    roll = rng.random()
    if roll < 0.45:
        return company.name
    if roll < 0.63:
        return company.short_name
    if roll < 0.70:
        return company.name.upper()
    if roll < 0.78:
        return f"{company.short_name} ({company.hq_city})"
    if roll < 0.88 and company.aliases:
        return rng.choice(company.aliases)
    return _suffix_variant(rng, company)


def _suffix_variant(rng: random.Random, company: _Company) -> str:
    if company.name == company.short_name:
        # The register name people add although the account is known without it.
        return f"{company.short_name} {company.legal_suffix}"
    spelling = SUFFIX_VARIANTS.get(company.legal_suffix, company.legal_suffix)
    return f"{company.short_name} {spelling}" if rng.random() < 0.7 else company.name.lower()


def _bio(
    rng: random.Random,
    first: str,
    title: str,
    company: _Company,
    theme: _Theme,
    previous: str,
    zone: str,
) -> str:
    topic, topic2 = rng.sample(theme.topics, 2)
    return rng.choice(BIO_TEMPLATES).format(
        first=first,
        a_title=_article(title),
        short=company.short_name,
        topic=topic,
        topic2=topic2,
        field=theme.field,
        years=rng.randint(3, 15),
        tenure=rng.randint(2, 8),
        previous=previous,
        city=zone.rsplit("/", 1)[-1].replace("_", " "),
    )


# --- events -------------------------------------------------------------------------


def _plan_events(ctx: _Context) -> list[_EventPlan]:
    rng = ctx.rng
    names: set[str] = set()
    online = set(rng.sample(range(EVENT_COUNT), ONLINE_EVENT_COUNT))
    plans = [
        _plan_event(ctx, _start_date(ctx, index), index in online, names)
        for index in range(EVENT_COUNT)
    ]
    for plan in rng.sample(plans, QUIET_EVENT_COUNT):
        plan.quiet = True
    return plans


def _start_date(ctx: _Context, index: int) -> date:
    # One bucket per event keeps the dates spread over the whole window.
    span = LAST_EVENT_OFFSET_DAYS - FIRST_EVENT_OFFSET_DAYS + 1
    low = FIRST_EVENT_OFFSET_DAYS + index * span // EVENT_COUNT
    high = FIRST_EVENT_OFFSET_DAYS + (index + 1) * span // EVENT_COUNT - 1
    days = [ctx.today + timedelta(days=d) for d in range(low, high + 1)]
    weekdays = [d for d in days if d.weekday() < 5] or days
    return ctx.rng.choice(weekdays)


def _plan_event(ctx: _Context, start: date, online: bool, names: set[str]) -> _EventPlan:
    rng = ctx.rng
    theme = rng.choice(THEMES)
    fmt = rng.choice(ONLINE_FORMATS if online else EVENT_FORMATS)
    city, country, offset = rng.choice(EVENT_CITIES)
    name = _event_name(rng, theme, fmt[0], None if online else city, start.year, names)
    # Conferences do not run into the weekend.
    days = min(rng.randint(fmt[2], fmt[3]), max(1, 5 - start.weekday()))
    topics = tuple(rng.sample(theme.topics, rng.randint(3, 4)))
    sessions = _plan_sessions(rng, theme, start, days, rng.randint(fmt[4], fmt[5]), online, offset)
    return _EventPlan(
        name=name,
        theme=theme,
        start=start,
        end=start + timedelta(days=days - 1),
        city=None if online else city,
        country=None if online else country,
        topics=topics,
        url=_event_url(name, None if online else city, start.year),
        description=_event_description(days, fmt[1], None if online else city, theme, topics),
        sessions=sessions,
    )


def _event_name(
    rng: random.Random, theme: _Theme, fmt: str, city: str | None, year: int, names: set[str]
) -> str:
    stems = list(theme.stems)
    rng.shuffle(stems)
    for stem in stems:
        name = f"{stem} {fmt} {city} {year}" if city else f"{stem} {fmt} {year}"
        if name not in names:
            names.add(name)
            return name
    # Every stem taken for this place and year: number the edition instead.
    edition = 2
    while f"{name} ({edition})" in names:
        edition += 1
    names.add(f"{name} ({edition})")
    return f"{name} ({edition})"


def _event_url(name: str, city: str | None, year: int) -> str:
    # A series keeps one site; each city and year is a page on it.
    edition = _ascii_words(city) if city else []
    series = [w for w in _ascii_words(name) if w not in edition and w != str(year)]
    host = "".join(series)
    # Derived from the series name so every edition of a series shares the same site.
    tld = EVENT_TLDS[sum(map(ord, host)) % len(EVENT_TLDS)]
    return f"https://{host}.{tld}/{'-'.join([*edition, str(year)])}"


def _event_description(
    days: int, noun: str, city: str | None, theme: _Theme, topics: tuple[str, ...]
) -> str:
    length = {1: "one-day", 2: "two-day", 3: "three-day"}[days]
    where = f"in {city}" if city else "streamed online"
    covered = f"{', '.join(topics[:-1])} and {topics[-1]}"
    return f"A {length} {noun} {where} for {theme.audience}, covering {covered}."


def _plan_sessions(
    rng: random.Random,
    theme: _Theme,
    start: date,
    days: int,
    count: int,
    online: bool,
    offset: float,
) -> list[_SessionPlan]:
    rooms = ONLINE_ROOMS if online else rng.choice(ROOM_SETS)
    zone = timezone(timedelta(hours=0 if online else offset))
    per_day = [count // days + (1 if d < count % days else 0) for d in range(days)]
    sessions: list[_SessionPlan] = []
    for day, day_count in enumerate(per_day):
        for k in range(day_count):
            room_index, slot_index = divmod(k, len(DAY_SLOTS))
            kind = _session_kind(rng, day == 0 and k == 0 and count >= 6)
            starts, ends = _slot_times(start + timedelta(days=day), slot_index, kind, zone)
            track = theme.tracks[room_index % len(theme.tracks)]
            speakers: list[_Person | None] = [None] * _speaker_count(rng, kind)
            sessions.append(_SessionPlan(kind, starts, ends, rooms[room_index], track, speakers))
    sessions.sort(key=lambda s: (s.starts_at, s.room))
    return sessions


def _session_kind(rng: random.Random, opening: bool) -> str:
    if opening:
        return "keynote"
    return _weighted(rng, (("talk", 68), ("panel", 12), ("workshop", 10), ("lightning", 10)))


def _speaker_count(rng: random.Random, kind: str) -> int:
    if kind == "panel":
        return 2
    if kind == "workshop":
        return 2 if rng.random() < 0.3 else 1
    if kind == "talk":
        return 2 if rng.random() < 0.1 else 1
    return 1


def _slot_times(day: date, slot_index: int, kind: str, zone: timezone) -> tuple[datetime, datetime]:
    hour, minute = DAY_SLOTS[slot_index]
    begin = hour * 60 + minute
    if slot_index + 1 < len(DAY_SLOTS):
        next_hour, next_minute = DAY_SLOTS[slot_index + 1]
        limit = next_hour * 60 + next_minute
    else:
        limit = DAY_END_MINUTES
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    length = min(SESSION_MINUTES[kind], limit - begin)
    return local.astimezone(UTC), (local + timedelta(minutes=length)).astimezone(UTC)


# --- speakers -----------------------------------------------------------------------


def _assign_speakers(
    rng: random.Random, plans: list[_EventPlan], pool: list[_Person]
) -> list[_Person]:
    """Fill every speaker slot; returns everybody who speaks, in order of first talk."""
    for plan in plans:
        plan.open_slots = [
            (s, pos)
            for s, session in enumerate(plan.sessions)
            for pos in range(len(session.speakers))
        ]
        rng.shuffle(plan.open_slots)
    fresh_targets = [p for p in pool if p.company.is_target]
    fresh_others = [p for p in pool if not p.company.is_target]
    circuit = fresh_targets[:CIRCUIT_TARGET_SPEAKERS] + fresh_others[:CIRCUIT_OTHER_SPEAKERS]
    del fresh_targets[:CIRCUIT_TARGET_SPEAKERS], fresh_others[:CIRCUIT_OTHER_SPEAKERS]
    used: list[_Person] = []
    for person in circuit:
        _place_on_circuit(rng, plans, person, used)
    for plan in rng.sample(plans, len(plans)):
        _fill_event(rng, plan, fresh_targets, fresh_others, used)
    return used


def _place_on_circuit(
    rng: random.Random, plans: list[_EventPlan], person: _Person, used: list[_Person]
) -> None:
    # Leave at least half of each event's slots for people who speak only once.
    candidates = [
        plan
        for plan in plans
        if not (plan.quiet and person.company.is_target)
        and len(plan.open_slots) > len(plan.sessions) // 2
    ]
    for plan in rng.sample(candidates, min(len(candidates), rng.choice((2, 2, 3)))):
        _seat(plan, person, used)


def _seat(plan: _EventPlan, person: _Person, used: list[_Person]) -> None:
    session_index, position = plan.open_slots.pop()
    plan.sessions[session_index].speakers[position] = person
    plan.speaker_emails.add(person.email)
    if person not in used:
        used.append(person)


def _fill_event(
    rng: random.Random,
    plan: _EventPlan,
    fresh_targets: list[_Person],
    fresh_others: list[_Person],
    used: list[_Person],
) -> None:
    seated = [p for s in plan.sessions for p in s.speakers if p is not None]
    need_target = not plan.quiet and not any(p.company.is_target for p in seated)
    while plan.open_slots:
        want_target = need_target or (not plan.quiet and rng.random() < 0.6)
        person = _next_speaker(
            rng, plan, want_target, need_target, fresh_targets, fresh_others, used
        )
        _seat(plan, person, used)
        need_target = False


def _next_speaker(
    rng: random.Random,
    plan: _EventPlan,
    want_target: bool,
    strict: bool,
    fresh_targets: list[_Person],
    fresh_others: list[_Person],
    used: list[_Person],
) -> _Person:
    if plan.quiet:
        queues = [fresh_others]
    elif strict:
        queues = [fresh_targets]
    else:
        queues = [fresh_targets, fresh_others] if want_target else [fresh_others, fresh_targets]
    for queue in queues:
        if queue:
            return queue.pop()
    # Nobody new left: ask someone who already speaks elsewhere, as organisers do.
    allowed = [
        p
        for p in used
        if p.email not in plan.speaker_emails
        and not (plan.quiet and p.company.is_target)
        and not (strict and not p.company.is_target)
    ]
    return rng.choice(allowed)


# --- event records ------------------------------------------------------------------


def _event_record(rng: random.Random, plan: _EventPlan, seed: int, index: int) -> EventRecord:
    external_id = f"demo-{seed}-event-{index + 1:02d}"
    titles: set[str] = set()
    sessions = tuple(
        _session_record(rng, plan, session, f"{external_id}-session-{n + 1:02d}", titles)
        for n, session in enumerate(plan.sessions)
    )
    return EventRecord(
        name=plan.name,
        start_date=plan.start,
        end_date=plan.end,
        url=plan.url,
        city=plan.city,
        country=plan.country,
        online=plan.city is None,
        topics=plan.topics,
        description=plan.description,
        external_id=external_id,
        sessions=sessions,
    )


def _session_record(
    rng: random.Random, plan: _EventPlan, session: _SessionPlan, external_id: str, titles: set[str]
) -> SessionRecord:
    speakers = [p for p in session.speakers if p is not None]
    title, abstract = _talk_text(rng, plan, session.kind, speakers, titles)
    return SessionRecord(
        title=title,
        abstract=abstract,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        room=session.room,
        track=session.track,
        session_type=session.kind,
        external_id=external_id,
        speakers=tuple(p.record for p in speakers),
    )


_TITLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "keynote": KEYNOTE_TITLES,
    "talk": TALK_TITLES,
    "panel": PANEL_TITLES,
    "workshop": WORKSHOP_TITLES,
    "lightning": LIGHTNING_TITLES,
}
_ABSTRACT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "keynote": KEYNOTE_ABSTRACTS,
    "talk": TALK_ABSTRACTS,
    "panel": PANEL_ABSTRACTS,
    "workshop": WORKSHOP_ABSTRACTS,
    "lightning": LIGHTNING_ABSTRACTS,
}


def _talk_text(
    rng: random.Random, plan: _EventPlan, kind: str, speakers: list[_Person], titles: set[str]
) -> tuple[str, str]:
    lead = speakers[0]
    companies = list(dict.fromkeys(p.company.short_name for p in speakers))
    title = ""
    # A handful of retries keeps titles unique within one event's programme.
    for _ in range(8):
        values = _talk_values(rng, plan, lead, companies)
        title = rng.choice(_TITLE_TEMPLATES[kind]).format(**values)
        if title not in titles:
            break
    titles.add(title)
    abstract = rng.choice(_ABSTRACT_TEMPLATES[kind]).format(**values)
    return title, abstract


def _talk_values(
    rng: random.Random, plan: _EventPlan, lead: _Person, companies: list[str]
) -> dict[str, object]:
    topic = rng.choice(plan.topics) if rng.random() < 0.8 else rng.choice(plan.theme.topics)
    system = rng.choice(plan.theme.systems)
    return {
        "topic": topic,
        "Topic": _capitalise(topic),
        "system": system,
        "a_system": _article(system),
        "short": lead.company.short_name,
        "first": lead.record.first_name or lead.record.full_name,
        "companies": " and ".join(companies),
        "field": plan.theme.field,
        "audience": plan.theme.audience,
        "months": rng.choice((6, 9, 12, 18, 24)),
        "number": rng.randint(3, 40),
        "takeaway": rng.choice(TAKEAWAYS),
    }


def _attendees(
    rng: random.Random, plans: list[_EventPlan], contacts: list[_Person]
) -> dict[str, list[str]]:
    others = [p for p in contacts if not p.company.is_target]
    quiet = [plan for plan in plans if plan.quiet]
    # Half of the quiet events still have a target-account attendee: an attend-only lead.
    closed = {plan.name for plan in quiet[::2]}
    result: dict[str, list[str]] = {}
    for plan in plans:
        pool = others if plan.name in closed else contacts
        chosen = rng.sample(pool, min(len(pool), rng.randint(2, 6)))
        if plan.quiet and plan.name not in closed:
            _ensure_target_attendee(rng, chosen, contacts)
        result[plan.name] = sorted(p.email for p in chosen)
    return result


def _ensure_target_attendee(
    rng: random.Random, chosen: list[_Person], contacts: list[_Person]
) -> None:
    if any(p.company.is_target for p in chosen):
        return
    spare = [p for p in contacts if p.company.is_target and p not in chosen]
    if chosen and spare:
        chosen[0] = rng.choice(spare)


# --- accounts and intel -------------------------------------------------------------


def _account_records(rng: random.Random, targets: list[_Company]) -> list[AccountRecord]:
    records = [
        AccountRecord(
            name=company.name,
            domain=company.domain,
            aliases=company.aliases,
            tier=company.tier,
            industry=company.industry,
            notes=_account_note(rng, company),
        )
        for company in targets
    ]
    return sorted(records, key=lambda r: r.name)


def _account_note(rng: random.Random, company: _Company) -> str:
    return rng.choice(ACCOUNT_NOTES).format(
        department=rng.choice(DEPARTMENTS),
        quarter=rng.randint(1, 4),
        number=rng.randint(2, 6),
        industry=company.industry,
    )


def _intel_records(
    ctx: _Context, targets: list[_Company], others: list[_Company]
) -> list[IntelRecord]:
    records: list[IntelRecord] = []
    for company in sorted(targets, key=lambda c: c.name):
        categories = ctx.rng.sample(INTEL_CATEGORIES, ctx.rng.randint(2, 4))
        dates = sorted(
            ctx.today - timedelta(days=ctx.rng.randint(1, INTEL_WINDOW_DAYS)) for _ in categories
        )
        records += [
            _intel(ctx, company, category, noted_on, others)
            for category, noted_on in zip(categories, dates, strict=True)
        ]
    return records


def _intel(
    ctx: _Context, company: _Company, category: str, noted_on: date, others: list[_Company]
) -> IntelRecord:
    builders = {
        "funding": _funding,
        "hiring": _hiring,
        "product_launch": _product_launch,
        "leadership_change": _leadership_change,
        "partnership": _partnership,
        "earnings": _earnings,
    }
    title, body, source, path = builders[category](ctx, company, noted_on, others)
    host = {"hiring": "careers", "earnings": "investors"}.get(category, "www")
    return IntelRecord(
        account_name=company.name,
        title=title,
        body=body,
        noted_on=noted_on,
        source_url=f"https://{host}.{company.domain}/{path}/{noted_on.year}/{_slug(title)[:80]}",
        source_name=f"{company.short_name} {source}",
        category=category,
    )


_IntelText = tuple[str, str, str, str]


def _currency(company: _Company) -> str:
    return {"en_GB": "£", "en_US": "$"}.get(company.region.locale, "€")


def _funding(
    ctx: _Context, company: _Company, noted_on: date, others: list[_Company]
) -> _IntelText:
    rng, short, cur = ctx.rng, company.short_name, _currency(company)
    amount = rng.choice((12, 18, 25, 40, 60, 85, 120))
    title = (
        f"{short} raises {cur}{amount}m Series {rng.choice('BCD')} led by {rng.choice(INVESTORS)}"
    )
    body = (
        f"The round brings total funding to {cur}{amount + rng.randint(10, 90)}m. "
        f"{short} plans to grow its team in {company.hq_city} and expand into new markets."
    )
    return title, body, "Newsroom", "newsroom"


def _hiring(ctx: _Context, company: _Company, noted_on: date, others: list[_Company]) -> _IntelText:
    rng, short = ctx.rng, company.short_name
    count = rng.choice((25, 40, 60, 80, 120))
    city = rng.choice([c for r in REGIONS for c, _ in r.hubs if c != company.hq_city])
    title = f"{short} to hire {count} people for new {city} hub"
    body = (
        f"Open roles span {rng.choice(HIRING_AREAS)}. "
        f"The {city} office is expected to open within {rng.choice((3, 6, 9))} months."
    )
    return title, body, "Careers", "jobs"


def _product_launch(
    ctx: _Context, company: _Company, noted_on: date, others: list[_Company]
) -> _IntelText:
    rng, short = ctx.rng, company.short_name
    product = f"{company.prefix} {rng.choice(PRODUCT_WORDS)}"
    theme = rng.choice(THEMES)
    topic = rng.choice(theme.topics)
    title = f"{short} launches {product} for {topic}"
    body = (
        f"{product} is generally available from today for customers in Europe and North America. "
        f"It targets {theme.audience} who want {topic} without building it in-house."
    )
    return title, body, "Blog", "blog"


def _leadership_change(
    ctx: _Context, company: _Company, noted_on: date, others: list[_Company]
) -> _IntelText:
    rng = ctx.rng
    generator = ctx.fake[company.region.locale]
    name = f"{generator.first_name()} {generator.last_name()}"
    role = rng.choice(EXECUTIVE_TITLES)
    previous = rng.choice(others).short_name
    title = f"{company.short_name} appoints {name} as {role}"
    body = (
        f"{name} joins from {previous} after {rng.randint(4, 12)} years in senior roles. "
        f"The appointment takes effect on {_long_date(noted_on + timedelta(days=30))}."
    )
    return title, body, "Newsroom", "newsroom"


def _partnership(
    ctx: _Context, company: _Company, noted_on: date, others: list[_Company]
) -> _IntelText:
    rng, short = ctx.rng, company.short_name
    partner = rng.choice(others).short_name
    topic = rng.choice(rng.choice(THEMES).topics)
    title = f"{short} partners with {partner} on {topic}"
    body = (
        f"The partnership combines {_possessive(short)} platform with "
        f"{_possessive(partner)} expertise in {topic}. "
        f"Joint customers get access to the integration later this year."
    )
    return title, body, "Newsroom", "newsroom"


def _earnings(
    ctx: _Context, company: _Company, noted_on: date, others: list[_Company]
) -> _IntelText:
    rng, short = ctx.rng, company.short_name
    # Results published in a quarter are about the quarter before it.
    quarter = (noted_on.month - 1) // 3
    year = noted_on.year if quarter else noted_on.year - 1
    quarter = quarter or 4
    growth = rng.randint(8, 45)
    title = f"{short} reports Q{quarter} {year} revenue up {growth}% year on year"
    body = (
        f"Growth was driven by {rng.choice(GROWTH_DRIVERS)}. "
        f"Management raised its outlook for the full year."
    )
    return title, body, "Investor Relations", "results"
