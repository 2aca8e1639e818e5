"""course_utils.music: ABC parsing, MIDI writing, synthesis, the abc2midi path and its fallback."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from course_utils import music
from course_utils.datasets import DataUnavailableError, load_irish_folk_tunes

TUNE = """X:7
T:Test reel
M:C|
L:1/8
K:D Major
|:FA (3Bcd e>f g/a/|[DF]2 z2 ^c=c f2:|
"""


def test_split_tunes_and_header():
    tunes = music.split_tunes("X:1\nT:a\nK:G\nGAB|\n\nX:2\nT:b\nK:D\nd2|\n")
    assert tunes == ["X:1\nT:a\nK:G\nGAB|", "X:2\nT:b\nK:D\nd2|"]
    assert music.header(TUNE) == {"X": "7", "T": "Test reel", "M": "C|", "L": "1/8", "K": "D Major"}


def test_parse_pitches_lengths_and_key():
    notes = music.parse_abc(TUNE)
    pitches = [n.pitch for n in notes]
    # D major sharpens F and C; ^c/=c are bar-local accidentals; [DF] is a chord.
    assert pitches[:2] == [66, 69] and pitches[2:5] == [71, 73, 74]
    assert pitches[5:9] == [76, 78, 79, 81] and pitches[9:11] == [62, 66] and pitches[11:14] == [73, 72, 78]
    lengths = [n.duration for n in notes]
    assert lengths[:2] == [0.5, 0.5] and lengths[2:5] == pytest.approx([1 / 3] * 3)
    assert lengths[5:7] == [0.75, 0.25] and lengths[7:9] == [0.25, 0.25] and lengths[9:11] == [1.0, 1.0]
    assert notes[9].start == notes[10].start and notes[11].start == notes[9].start + 2.0  # the rest z2 counts


def test_key_modes():
    assert music.parse_abc("X:1\nT:t\nM:6/8\nK:A Dorian\nFcB|")[0].pitch == 66  # A Dorian = G major: F#
    assert music.parse_abc("X:1\nT:t\nM:6/8\nK:D Minor\nB|")[0].pitch == 70  # D minor: B flat
    assert music.parse_abc("X:1\nT:t\nM:6/8\nK:G Mixolydian\nF|")[0].pitch == 65  # G Mixolydian = C major


@pytest.mark.parametrize("tune, fragment", [
    ("X:1\nT:t\nK:D\nabc|", "lacks the field(s) M"),
    ("T:t\nM:C\nK:D\nabc|", "lacks the field(s) X"),
    ("X:1\nT:t\nM:C\nK:D\nab s|", "line 5: unexpected character 's'"),
    ("X:1\nT:t\nM:C\nK:D\n[ab|\n", "never closed"),
    ("X:1\nT:t\nM:7/0\nK:D\nabc|", "not a meter"),
    ("X:1\nT:t\nM:C\nK:Q Major\nabc|", "not a key"),
    ("X:1\nT:t\nM:C\nK:D\n|:|", "no notes"),
])
def test_invalid_tunes_raise_a_clear_error(tune, fragment):
    with pytest.raises(music.ABCError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        music.parse_abc(tune)
    assert not music.is_valid_abc(tune)


def test_the_course_tunes_parse():
    try:
        tunes = load_irish_folk_tunes()
    except DataUnavailableError:
        pytest.skip("the Irish folk tunes are not available offline")
    assert len(tunes) == 804
    failing = [t for t in tunes if not music.is_valid_abc(t)]
    assert len(failing) == 1 and "fsedf" in failing[0]  # one upstream typo: an 's' in a melody


def test_midi_file_and_synthesis(tmp_path):
    notes = music.parse_abc(TUNE)
    data = music.write_midi(notes, tmp_path / "tune.mid").read_bytes()
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk" and data.endswith(b"\x00\xff\x2f\x00")
    assert data.count(b"\x90") >= len(notes)
    audio = music.synthesize(notes, bpm=120, rate=8000)
    end = max(n.start + n.duration for n in notes) * 0.5
    assert audio.dtype == np.float32 and abs(len(audio) / 8000 - (end + 0.3)) < 0.01
    assert np.abs(audio).max() == pytest.approx(1.0) and np.abs(audio[: int(0.2 * 8000)]).max() > 0.1


def test_missing_tools_name_the_package_and_fall_back(monkeypatch, capsys):
    monkeypatch.setattr(music.shutil, "which", lambda name: None)
    audio = music.tune_audio(TUNE, rate=8000)
    assert "apt-get install abcmidi timidity" in capsys.readouterr().out
    assert np.array_equal(audio, music.synthesize(music.parse_abc(TUNE), rate=8000))


def test_a_tune_that_does_not_parse_is_reported_and_skipped(capsys):
    assert music.play_abc("X:1\nT:Broken\nM:C\nK:D\nab$c|") is None
    assert "Skipped 'Broken': not valid ABC (line 5: unexpected character '$')" in capsys.readouterr().out
    assert music.play_abc(TUNE, use_tools=False, rate=8000).data[:4] == b"RIFF"


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi (package abcmidi) is not installed")
def test_abc2midi_converts_a_tune(tmp_path):
    path = music.abc_to_midi(TUNE, tmp_path / "tune.mid")
    assert path.read_bytes()[:4] == b"MThd"
    with pytest.raises(music.ABCError, match="no MIDI file"):
        music.abc_to_midi("T:no number\nM:C\nK:D\nabc|", tmp_path / "none.mid")


@pytest.mark.skipif(shutil.which("abc2midi") is None or not any(map(shutil.which, music.SYNTHESISERS)),
                    reason="abc2midi and a synthesiser (timidity or fluidsynth) are not installed")
def test_real_tools_render_audio():
    audio = music.tune_audio(TUNE, rate=16000)
    assert audio.ndim == 1 and len(audio) > 16000 and np.abs(audio).max() == pytest.approx(1.0)


def test_longest_common_substring():
    assert music.longest_common_substring("xxabcdyy", "zzabcdzz") == 4
    assert music.longest_common_substring("abc", "xyz") == 0
    assert music.longest_common_substring("", "abc") == 0
