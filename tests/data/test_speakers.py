"""`unroll data speakers`: speeches of a play labelled by speaker, the classify data a fresh clone can make."""

import pytest

from unroll.cli import main
from unroll.data.speakers import choose_speakers, speeches

PLAY = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die\nthan to famish?\n\n"
        "A stage direction, not a speech\n\nAll:\nResolved. resolved.\n\nMENENIUS:\nWhat work's, my countrymen?\n")


def test_speeches_join_each_speech_and_skip_other_blocks():
    assert speeches(PLAY) == [
        ("First Citizen", "Before we proceed any further, hear me speak."), ("All", "Speak, speak."),
        ("First Citizen", "You are all resolved rather to die than to famish?"), ("All", "Resolved. resolved."),
        ("MENENIUS", "What work's, my countrymen?")]


def test_the_top_speakers_or_the_named_ones():
    found = speeches(PLAY)
    assert choose_speakers(found, None, 2) == ["First Citizen", "All"]
    assert choose_speakers(found, ["MENENIUS", "All"], 2) == ["MENENIUS", "All"]
    with pytest.raises(ValueError, match=r"^--speakers: ROMEO never speaks in this text \(most speeches: "
                                         r"First Citizen, All, MENENIUS\)$"):
        choose_speakers(found, ["ROMEO"], 2)
    with pytest.raises(ValueError, match=r"^--top must be at least 2"):
        choose_speakers(found, None, 1)


def test_command_writes_the_tsv_classify_reads(tmp_path, capsys):
    (tmp_path / "play.txt").write_text(PLAY, encoding="utf-8")
    assert main(["data", "speakers", "--text", str(tmp_path / "play.txt"), "--out", str(tmp_path / "s.tsv")]) == 0
    assert (tmp_path / "s.tsv").read_text(encoding="utf-8") == (
        "First Citizen\tBefore we proceed any further, hear me speak.\nAll\tSpeak, speak.\n"
        "First Citizen\tYou are all resolved rather to die than to famish?\nAll\tResolved. resolved.\n")
    assert capsys.readouterr().err == "4 speeches of First Citizen, All\n"


def test_command_reads_the_bundled_play_by_default(capsys):
    assert main(["data", "speakers", "--speakers", "ROMEO,JULIET"]) == 0
    out, err = capsys.readouterr()
    labels = [line.split("\t")[0] for line in out.splitlines()]
    assert err == f"{len(labels)} speeches of ROMEO, JULIET\n"
    assert set(labels) == {"ROMEO", "JULIET"} and labels.count("ROMEO") == 160
    assert out.startswith("ROMEO\t")
