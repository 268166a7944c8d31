"""Importing releases with versions: the expectations are computed from the two real release
files here, independently of the importer, not taken from constants."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import select

from ntjp_producer import clock
from ntjp_producer.fmb.importer import import_release
from ntjp_producer.fmb.models import FmbImport, FmbItem, FmbState
from ntjp_producer.fmb.release import ReleaseError
from ntjp_producer.fmb.services import FmbService
from ntjp_producer.storage import db
from tests.helpers import LATEST, OLD, new_database

pytestmark = pytest.mark.slow
FILES = {"typfall": "typfall.json", "diagnosinformation": "forsakringsmedicinskdiagnosinformation.json"}
DESCRIPTIVE = {
    "beskrivning",
    "kodsystemnamn",
    "samsjuklighetsrubrik",
    "tillstandsmening",
    "typfalletsrekommenderadesjukskrivning",
}


def load(folder, kind):
    return {x["id"]: x["attributes"] for x in json.loads((folder / FILES[kind]).read_text())["data"]}


def _codes_only(node):
    """The coded skeleton of a structure: descriptive text dropped, list order ignored."""
    if isinstance(node, dict):
        return {k: _codes_only(v) for k, v in node.items() if k not in DESCRIPTIVE}
    if isinstance(node, list):
        return sorted((_codes_only(v) for v in node), key=lambda v: json.dumps(v, sort_keys=True))
    return node


def meaning(kind, a):
    if kind == "typfall":
        ft = _codes_only(a["fmbtillstand"])
        for key in ("urvalsamsjuklighet",):  # comorbidity groups are one set of alternatives
            ft[key] = sorted(k["kod"] for group in a["fmbtillstand"][key] for e in group for k in e["diagnoskod"])
        for coded in ft.values():
            for code in coded if isinstance(coded, list) else []:
                if isinstance(code, dict):
                    code.pop("kodsystem", None)
        rek = a["rekommenderadsjukskrivning"]
        return [
            a["giltighetsperiod"],
            ft,
            rek["maximalsjukskrivningstid"],
            rek["maximalsjukskrivningsenhet"],
            rek["maximalsjukskrivningsgrad"]["kod"],
        ]
    icf = {
        part: [
            sorted(k["kod"] for k in (a.get(part) or {}).get(sub) or []) for sub in ("centralkod", "kompletterandekod")
        ]
        for part in ("aktivitetsbegransning", "funktionsnedsattning")
    }
    return [a["giltighetsperiod"], sorted(k["kod"] for k in a["diagnoskod"]), icf]


def dump(url):
    """Everything a consumer could observe, to prove that nothing moved."""
    with db.session_factory(url)() as s:
        items = {
            (r.kind, r.item_id): (
                r.version,
                r.giltig_start,
                r.giltig_slut,
                r.removed_on,
                r.senast_andrad.replace(tzinfo=None),
                r.content_digest,
                sorted(d.kod for d in r.diagnoser),
            )
            for r in s.scalars(select(FmbItem))
        }
        states = {
            r.kind: (r.senaste_versionsuppdatering, r.senate_andring, r.release_version)
            for r in s.scalars(select(FmbState))
        }
        imports = len(s.scalars(select(FmbImport)).all())
    return items, states, imports


def test_latest_import_counts(db_url):
    report = import_release(db.session_factory(db_url), LATEST)
    assert report.changes["typfall"].summary()["new"] == len(load(LATEST, "typfall")) == 439
    service = FmbService(db.session_factory(db_url))
    assert len(service.beslutsunderlag().items) == 439
    assert len(service.diagnosinformation().items) == 116


def test_old_then_latest_gives_the_versions_the_rules_imply(db_url):
    sessions = db.session_factory(db_url)
    first_at = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)
    second_at = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
    import_release(sessions, OLD, at=first_at)
    before = dump(db_url)
    import_release(sessions, LATEST, at=second_at)
    items, states, _ = dump(db_url)
    service = FmbService(sessions)
    import_day = clock.today(second_at)

    for kind in ("typfall", "diagnosinformation"):
        old, new = load(OLD, kind), load(LATEST, kind)
        added, removed, common = new.keys() - old.keys(), old.keys() - new.keys(), old.keys() & new.keys()
        meaning_changed = {i for i in common if meaning(kind, old[i]) != meaning(kind, new[i])}
        edited = {i for i in common - meaning_changed if old[i] != new[i]}
        assert added and removed and (meaning_changed or edited)
        for i in added:
            assert items[(kind, i)][0] == 1 and items[(kind, i)][2] is None
        for i in removed:
            version, _, slut, removed_on, andrad, *_ = items[(kind, i)]
            assert version == 2 and removed_on == import_day
            assert slut == import_day - dt.timedelta(days=1), "inactive from the import on"
            assert andrad == second_at.replace(tzinfo=None)
        for i in meaning_changed:
            assert items[(kind, i)][0] == 2, (kind, i)
            assert items[(kind, i)][4] == second_at.replace(tzinfo=None)
        for i in edited:
            assert items[(kind, i)][0] == 1, (kind, i)
            assert items[(kind, i)][4] == second_at.replace(tzinfo=None), "a text edit moves senastAndrad"
        for i in common - meaning_changed - edited:
            assert items[(kind, i)][:5] == before[0][(kind, i)][:5]

        key = "typfall" if kind == "typfall" else "diagnosinformation"
        stamp = clock.stamp(second_at)
        assert states[key][:2] == (stamp, stamp)

        # served: removed items only with avenEjAktiva, and then as inactive with version 2
        if kind == "typfall":
            active = service.beslutsunderlag().items
            everything = service.beslutsunderlag(aven_ej_aktiva=True).items
            ids = lambda found: {b.underlags_id for b in found}  # noqa: E731
        else:
            active = service.diagnosinformation().items
            everything = service.diagnosinformation(aven_ej_aktiva=True).items
            ids = lambda found: {d.informations_id for d in found}  # noqa: E731
        assert ids(active) == set(new)
        assert ids(everything) == set(new) | removed
        for item in everything:
            item_id = getattr(item, "underlags_id", None) or item.informations_id
            assert item.giltighet.active_on(dt.date.today()) == (item_id in new)


def test_reimporting_changes_nothing(db_url):
    sessions = db.session_factory(db_url)
    import_release(sessions, OLD, at=dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC))
    import_release(sessions, LATEST, at=dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC))
    before = dump(db_url)
    report = import_release(sessions, LATEST, at=dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.UTC))
    assert not report.changed and report.stamp is None
    assert dump(db_url) == before


def test_a_text_only_edit_keeps_the_version_and_moves_senate_andring_only(db_url, tmp_path):
    sessions = db.session_factory(db_url)
    import_release(sessions, LATEST, at=dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC))
    edited = tmp_path / "edited"
    shutil.copytree(LATEST, edited)
    doc = json.loads((edited / "typfall.json").read_text())
    doc["data"][0]["attributes"]["typfallsmening"] += " Förtydligad."
    (edited / "typfall.json").write_text(json.dumps(doc, ensure_ascii=False))
    _, states_before, _ = dump(db_url)
    at = dt.datetime(2026, 1, 11, 9, 0, tzinfo=dt.UTC)
    report = import_release(sessions, edited, at=at)
    assert report.changes["typfall"].edited == [doc["data"][0]["id"]]
    items, states, _ = dump(db_url)
    assert items[("typfall", doc["data"][0]["id"])][0] == 1
    assert states["typfall"] == (states_before["typfall"][0], clock.stamp(at), states_before["typfall"][2])
    assert states["diagnosinformation"] == states_before["diagnosinformation"]


def test_two_imports_in_one_second_still_move_the_stamp(db_url, tmp_path):
    sessions = db.session_factory(db_url)
    at = dt.datetime(2026, 1, 10, 9, 0, 0, tzinfo=dt.UTC)
    first = import_release(sessions, OLD, at=at).stamp
    second = import_release(sessions, LATEST, at=at).stamp
    assert second > first


# ---- broken releases --------------------------------------------------------------------------


def _broken(tmp_path, kind, mutate):
    folder = tmp_path / "broken"
    shutil.copytree(LATEST, folder)
    path = folder / FILES[kind]
    path.write_bytes(mutate(path.read_bytes()))
    return folder


def _edit_item(item_id, change):
    def mutate(raw):
        doc = json.loads(raw)
        change(next(x for x in doc["data"] if x["id"] == item_id)["attributes"])
        return json.dumps(doc, ensure_ascii=False).encode()

    return mutate


BROKEN = {
    "invalid JSON": (
        "typfall",
        lambda raw: raw.replace(b'"typfallsmening"', b'"typfallsmening" ::', 1),
        ["typfall.json", "invalid or truncated JSON"],
    ),
    "truncated file": (
        "diagnosinformation",
        lambda raw: raw[: len(raw) // 2],
        ["forsakringsmedicinskdiagnosinformation.json", "truncated"],
    ),
    "missing required attribute": (
        "typfall",
        _edit_item("111", lambda a: a["rekommenderadsjukskrivning"].pop("typfalletsrekommenderadesjukskrivning")),
        ["typfall.json", "item 111", "typfalletsrekommenderadesjukskrivning"],
    ),
    "unknown unit": (
        "typfall",
        _edit_item("112", lambda a: a["rekommenderadsjukskrivning"].update(maximalsjukskrivningsenhet="yr")),
        ["typfall.json", "item 112", "unknown unit 'yr'"],
    ),
    "missing diagnoses": (
        "diagnosinformation",
        _edit_item("110", lambda a: a.update(diagnoskod=[])),
        ["item 110", "diagnoskod"],
    ),
    "invalid diagnosis code": (
        "typfall",
        _edit_item("111", lambda a: a["fmbtillstand"]["diagnoskod"][0].update(kod="??")),
        ["item 111", "'??'"],
    ),
    "bad date": (
        "typfall",
        _edit_item("113", lambda a: a["giltighetsperiod"].update(start="2015-13-45")),
        ["item 113", "giltighetsperiod.start"],
    ),
    # What the deployed contract cannot carry is refused, not bent: sjukskrivningsgrad is Heltid or
    # Deltid, sjukskrivningstid a whole number, and there is at most one svårighetsgrad selection.
    "unknown sick-leave degree": (
        "typfall",
        _edit_item("111", lambda a: a["rekommenderadsjukskrivning"]["maximalsjukskrivningsgrad"].update(kod="3")),
        ["item 111", "maximalsjukskrivningsgrad.kod", "'3'", "1 (Heltid), 2 (Deltid)"],
    ),
    "sick-leave length not whole": (
        "typfall",
        _edit_item("112", lambda a: a["rekommenderadsjukskrivning"].update(maximalsjukskrivningstid="1.5")),
        ["item 112", "not a whole number: '1.5'"],
    ),
    "two svårighetsgrad selections": (
        "typfall",
        _edit_item(
            "242",
            lambda a: a["fmbtillstand"].update(
                urvalsvarighetsgrad=[
                    {"svarighetsgrad": [{"kod": "255604002"}]},
                    {"svarighetsgrad": [{"kod": "24484000"}]},
                ]
            ),
        ),
        ["item 242", "urvalsvarighetsgrad' has 2 selections", "at most one"],
    ),
}


@pytest.fixture(scope="module")
def old_db(tmp_path_factory):
    """releases/2018-02-05 imported once for the refusals below: each must leave it exactly as it was,
    so each sees the same database (and checks it is unchanged)."""
    url, drop = new_database(tmp_path_factory.mktemp("old-db"))
    db.migrate(url)
    import_release(db.session_factory(url), OLD, at=dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC))
    yield url, dump(url)
    drop()


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_release_is_refused_and_nothing_changes(old_db, tmp_path, case):
    url, imported = old_db
    assert dump(url) == imported
    kind, mutate, expected = BROKEN[case]
    with pytest.raises(ReleaseError) as info:
        import_release(db.session_factory(url), _broken(tmp_path, kind, mutate))
    for fragment in expected:
        assert fragment in str(info.value)
    assert dump(url) == imported


def test_missing_file_is_refused(db_url, tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    shutil.copy(LATEST / "typfall.json", folder)
    with pytest.raises(ReleaseError, match=r"forsakringsmedicinskdiagnosinformation\.json: file is missing"):
        import_release(db.session_factory(db_url), folder)


def test_cli_refuses_a_broken_release_with_file_and_item(db_url, tmp_path):
    folder = _broken(tmp_path, *BROKEN["unknown unit"][:2])
    result = subprocess.run(
        [sys.executable, "-m", "ntjp_producer", "fmb", "import", str(folder), "--db", db_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    assert "import refused, nothing changed" in result.stderr and "item 112" in result.stderr
    assert "Traceback" not in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "ntjp_producer", "fmb", "import", str(LATEST), "--db", db_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and "imported FMB release 1.0.1-RC2.162" in ok.stdout
