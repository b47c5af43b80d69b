"""The TUI's save writes into a new or empty folder, or one holding its own earlier saves;
a folder of anything else (someone's files, a git checkout) is refused and left untouched."""

from __future__ import annotations

TERMINAL = (120, 36)


def _notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def _snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


async def test_save_into_a_folder_of_the_users_files_is_refused_and_touches_nothing(
    make_app, tmp_path
):
    precious = tmp_path / "precious"
    (precious / "log").mkdir(parents=True)
    (precious / "thesis.txt").write_text("mine\n")
    (precious / "log" / "notes.txt").write_text("mine too\n")
    before = _snapshot(precious)
    app = make_app(out=precious)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "s")
        assert "Not saved" in _notes(app)[-1] and "not made by dialog-rl tui" in _notes(app)[-1]
        assert app.is_running and app.session.dirty
    assert _snapshot(precious) == before


async def test_save_twice_into_its_own_folder_replaces_its_files(make_app, tmp_path):
    out = tmp_path / "saved"
    app = make_app(out=out)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "s")
        await pilot.press("space", "space", "s")
        assert all("Saved" in n for n in _notes(app)[-2:]), _notes(app)
    assert '"made_by": "dialog-rl tui"' in (out / "session.json").read_text()
    (out / "mine.txt").write_text("mine\n")  # a file of the user's lands in it: no more saves
    app = make_app(out=out)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "s")
        assert "mine.txt" in _notes(app)[-1]
    assert (out / "mine.txt").read_text() == "mine\n"
