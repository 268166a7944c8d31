"""The code systems the register's items are coded in, and the one place their OIDs are named.

Professions are the HSA code system the reference gives. Sex, county and municipality are Inera's
national value sets (KV Kön, Länskod, Kommunkod). For speciality, the decision kinds of item 9 and
the scope of the right to prescribe the producer knows no published OID; those carry a URN of this
contract's own (``urn:riv:...:healthcareprofessional:codes:...``) until Socialstyrelsen names one.
"""

from __future__ import annotations

from dataclasses import dataclass

_LOCAL = "urn:riv:strategicresourcemanagement:persons:healthcareprofessional:codes"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: each system is one object
class CodeSystem:
    oid: str
    name: str
    codes: dict[str, str]  # code -> display name; empty: any code of the right form

    def display(self, code: str) -> str | None:
        return self.codes.get(code)


PROFESSION = CodeSystem(
    "1.2.752.29.23.1.6",
    "HSA Legitimerad yrkesgrupp",
    {
        "AP": "Apotekare", "AT": "Arbetsterapeut", "AU": "Audionom", "BM": "Barnmorska",
        "BA": "Biomedicinsk analytiker", "DT": "Dietist", "FT": "Fysioterapeut", "SG": "Sjukgymnast",
        "HK": "Hälso- och sjukvårdskurator", "KP": "Kiropraktor", "LG": "Logoped", "LK": "Läkare",
        "NA": "Naprapat", "OP": "Optiker", "OT": "Ortopedingenjör", "PS": "Psykolog",
        "PT": "Psykoterapeut", "RC": "Receptarie", "RS": "Röntgensjuksköterska", "SF": "Sjukhusfysiker",
        "SJ": "Sjuksköterska", "TH": "Tandhygienist", "TL": "Tandläkare",
    },
)  # fmt: skip

SEX = CodeSystem("1.2.752.129.2.2.1.1", "KV Kön", {"1": "Man", "2": "Kvinna"})

COUNTY = CodeSystem(
    "1.2.752.129.2.2.1.18",
    "Länskod",
    {
        "01": "Stockholms län", "03": "Uppsala län", "04": "Södermanlands län", "05": "Östergötlands län",
        "06": "Jönköpings län", "07": "Kronobergs län", "08": "Kalmar län", "09": "Gotlands län",
        "10": "Blekinge län", "12": "Skåne län", "13": "Hallands län", "14": "Västra Götalands län",
        "17": "Värmlands län", "18": "Örebro län", "19": "Västmanlands län", "20": "Dalarnas län",
        "21": "Gävleborgs län", "22": "Västernorrlands län", "23": "Jämtlands län",
        "24": "Västerbottens län", "25": "Norrbottens län",
    },
)  # fmt: skip

# Municipality codes are four digits, the first two the county's. The names known here are those
# the generator uses; any code of the right form in a known county is accepted from an extract.
MUNICIPALITY = CodeSystem(
    "1.2.752.129.2.2.1.17",
    "Kommunkod",
    {
        "0114": "Upplands Väsby", "0120": "Värmdö", "0138": "Tyresö", "0162": "Danderyd", "0180": "Stockholm",
        "0181": "Södertälje", "0182": "Nacka", "0184": "Solna", "0186": "Lidingö", "0188": "Norrtälje",
        "0380": "Uppsala", "0381": "Enköping", "0480": "Nyköping", "0484": "Eskilstuna", "0580": "Linköping",
        "0581": "Norrköping", "0680": "Jönköping", "0780": "Växjö", "0880": "Kalmar", "0980": "Gotland",
        "1080": "Karlskrona", "1280": "Malmö", "1281": "Lund", "1283": "Helsingborg", "1290": "Kristianstad",
        "1380": "Halmstad", "1480": "Göteborg", "1485": "Uddevalla", "1490": "Borås", "1494": "Lidköping",
        "1780": "Karlstad", "1880": "Örebro", "1980": "Västerås", "2080": "Falun", "2180": "Gävle",
        "2281": "Sundsvall", "2380": "Östersund", "2480": "Umeå", "2482": "Skellefteå", "2580": "Luleå",
        "2584": "Kiruna", "2523": "Gällivare", "1214": "Svalöv", "2039": "Älvdalen", "0428": "Vingåker",
    },
)  # fmt: skip

COUNTRY = CodeSystem("1.0.3166.1.2.2", "ISO 3166-1 alfa-2", {
    "SE": "Sverige", "NO": "Norge", "DK": "Danmark", "FI": "Finland", "DE": "Tyskland", "PL": "Polen",
    "RO": "Rumänien", "HU": "Ungern", "IQ": "Irak", "SY": "Syrien", "IR": "Iran", "GB": "Storbritannien",
})  # fmt: skip

SPECIALITY = CodeSystem(
    f"{_LOCAL}:specialitet",
    "Specialitet (specialistbevis)",
    {
        "ALLM": "Allmänmedicin", "ANE": "Anestesi och intensivvård", "INT": "Internmedicin",
        "KAR": "Kardiologi", "KIR": "Kirurgi", "ORT": "Ortopedi", "PSY": "Psykiatri", "BAR": "Barn- och ungdomsmedicin",
        "GYN": "Obstetrik och gynekologi", "RAD": "Bild- och funktionsmedicin", "GER": "Geriatrik",
        "ONK": "Onkologi", "NEU": "Neurologi", "AKU": "Akutsjukvård",
        "TORT": "Ortodonti", "TPAR": "Parodontologi", "TPRO": "Oral protetik", "TKIR": "Käkkirurgi",
        "TPED": "Pedodonti", "TEND": "Endodonti",
    },
)  # fmt: skip
SPECIALITIES_FOR = {"LK": [c for c in SPECIALITY.codes if not c.startswith("T")],
                    "TL": [c for c in SPECIALITY.codes if c.startswith("T")]}  # fmt: skip

DECISION = CodeSystem(
    f"{_LOCAL}:beslutstyp", "Beslut om prövotid eller återkallelse",
    {"PROVOTID": "Prövotid", "ATERKALLELSE": "Legitimationen återkallad"},
)  # fmt: skip

PRESCRIPTION_SCOPE = CodeSystem(
    f"{_LOCAL}:forskrivningsratt", "Förskrivningsrättens omfattning",
    {"FULL": "Full förskrivningsrätt", "BEGRANSAD": "Begränsad förskrivningsrätt"},
)  # fmt: skip


def county_of(municipality: str) -> str:
    return municipality[:2]
