"""Names print literally and CSV cells never become formulas."""

from rich.console import Console

from problems.text import csv_cell, literal, plain


def test_literal_keeps_markup_and_links_as_text():
    c = Console(record=True, width=200)
    for name in ("a[/bad]", "[link=file:///etc/passwd]x[/link]", "[bold]b"):
        c.print(f"workload {literal(name)}")
    text = c.export_text()
    assert "a[/bad]" in text and "[link=file:///etc/passwd]x[/link]" in text and "[bold]b" in text


def test_control_characters_are_shown_not_sent():
    assert plain("a\x1b[2Jb\x07") == "a\\x1b[2Jb\\x07"
    assert "\x1b" not in literal("\x1b]8;;http://x\x1b\\")


def test_csv_cells_that_look_like_formulas_are_quoted():
    assert csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert [csv_cell(v) for v in ("+1", "-x", "@SUM(A1)", "\tcmd")] == ["'+1", "'-x", "'@SUM(A1)", "'\tcmd"]
    assert csv_cell("chat") == "chat" and csv_cell(-3.5) == -3.5 and csv_cell(None) is None


def test_invisible_reordering_characters_are_shown_not_applied():
    # a right-to-left override makes "exe.txt" read as "txt.exe"; zero-width marks hide text
    assert plain("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert plain("a\u200bb\ufeffc\u2066d") == "a\\u200bb\\ufeffc\\u2066d"
    assert plain("tab\tand\nnewline stay") == "tab\tand\nnewline stay"
