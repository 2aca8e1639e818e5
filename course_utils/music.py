"""Irish folk tunes in ABC notation: split, check, turn into MIDI and audio, play in a notebook.

Two ways from ABC text to sound:

* the real tools, as in MIT 6.S191's lab: ``abc2midi`` (Debian/Colab package ``abcmidi``) writes a
  MIDI file and a synthesiser (``timidity`` or ``fluidsynth`` with a General MIDI sound font)
  renders it to WAV;
* a pure-Python fallback that works anywhere: a small ABC parser for the subset these tunes use
  (:func:`parse_abc`), a MIDI file writer (:func:`write_midi`) and a NumPy synthesiser
  (:func:`synthesize`).

:func:`play_abc` tries the tools first, says which package to install when one is missing, and falls
back. A tune that does not parse raises :class:`ABCError`; :func:`play_abc` reports it and returns
None, so a notebook never crashes on a badly generated tune.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
HEADER_FIELDS = ("X", "T", "M", "K")
_LETTER_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MODE_OFFSETS = {"maj": 0, "ion": 0, "": 0, "dor": 2, "phr": 4, "lyd": 5, "mix": 7, "min": 9, "m": 9, "aeo": 9,
                 "loc": 11}
# Position of each major key's tonic (pitch class) on the circle of fifths: + sharps, - flats.
_FIFTHS = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 1: -5, 8: -4, 3: -3, 10: -2, 5: -1}
_SHARP_ORDER, _FLAT_ORDER = "FCGDAEB", "BEADGCF"
_DECORATIONS = set("~.HLMOPSTuv")


class ABCError(ValueError):
    """A tune is not valid ABC (for this parser): the message says where and why."""


@dataclass(frozen=True)
class Note:
    """One note: ``pitch`` (MIDI number, 60 = middle C), ``start`` and ``duration`` in quarter notes."""

    pitch: int
    start: float
    duration: float


def split_tunes(text: str) -> list[str]:
    """Split an ABC file into tunes: each starts at a line ``X:`` and runs to the next one, stripped."""
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.M)]
    return [text[a:b].strip() for a, b in zip(starts, starts[1:] + [len(text)], strict=True)]


def header(tune: str) -> dict[str, str]:
    """The header fields of a tune (``{"X": "1", "T": ..., "M": "6/8", "L": "1/8", "K": "D Major"}``).

    The header is every leading line of the form ``<letter>:<value>`` up to and including ``K:``.
    """
    fields: dict[str, str] = {}
    for line in tune.strip().splitlines():
        match = re.match(r"^([A-Za-z]):(.*)$", line)
        if not match:
            break
        fields.setdefault(match.group(1), match.group(2).strip())
        if match.group(1) == "K":
            break
    return fields


def _key_accidentals(key: str) -> dict[str, int]:
    """Semitone shift per note letter for a key such as ``D Major``, ``A Dorian``, ``F# Minor``."""
    match = re.match(r"^\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)", key)
    if not match:
        raise ABCError(f"K:{key} is not a key (expected a tonic A-G and a mode, e.g. 'K:D Major')")
    tonic = _LETTER_SEMITONES[match.group(1).upper()] + {"#": 1, "b": -1, "": 0}[match.group(2)]
    mode = match.group(3).lower()[:3]
    if mode not in _MODE_OFFSETS:
        raise ABCError(f"K:{key} has an unknown mode {match.group(3)!r}")
    fifths = _FIFTHS[(tonic - _MODE_OFFSETS[mode]) % 12]
    letters = _SHARP_ORDER[:fifths] if fifths > 0 else _FLAT_ORDER[:-fifths]
    return {letter: (1 if fifths > 0 else -1) for letter in letters}


def _meter(value: str) -> Fraction:
    """Length of one bar in whole notes: ``C`` and ``C|`` are 4/4 and 2/2."""
    value = value.split()[0] if value.split() else ""
    if value in ("C", "C|"):
        return Fraction(1)
    match = re.fullmatch(r"(\d+)/(\d+)", value)
    if not match or int(match.group(2)) == 0:
        raise ABCError(f"M:{value} is not a meter (expected e.g. 'M:6/8' or 'M:C')")
    return Fraction(int(match.group(1)), int(match.group(2)))


_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-gzxZ])([',]*)(\d*)(/*)(\d*)")
_TUPLET = re.compile(r"\((\d)(?::(\d)?)?(?::(\d)?)?")


def _length(digits: str, slashes: str, denominator: str) -> Fraction:
    length = Fraction(int(digits) if digits else 1)
    if slashes:
        length /= int(denominator) if denominator else 2 ** len(slashes)
    return length


def parse_abc(tune: str) -> list[Note]:
    """Parse one tune into notes, in order; raise :class:`ABCError` naming the first problem.

    Requires the header fields X, T, M and K (K last) and at least one note. Understands what the
    Irish folk tunes use: notes with accidentals, octave marks and lengths, rests, bars and repeats,
    broken rhythm (``>``, ``<``), tuplets, chords ``[CEG]``, slurs, ties, decorations, chord symbols
    and grace notes (both skipped), inline fields (``[K:G]``, ``M:6/8`` lines). Repeats are played
    once. Start times and durations are in quarter notes.
    """
    fields = header(tune)
    missing = [f for f in HEADER_FIELDS if f not in fields]
    if missing:
        raise ABCError(f"the header lacks the field(s) {', '.join(missing)} (a tune needs X, T, M and K)")
    _meter(fields["M"])
    unit = Fraction(1, 8)
    if "L" in fields:
        match = re.fullmatch(r"(\d+)/(\d+)", fields["L"].strip())
        if not match or int(match.group(2)) == 0:
            raise ABCError(f"L:{fields['L']} is not a note length (expected e.g. 'L:1/8')")
        unit = Fraction(int(match.group(1)), int(match.group(2)))
    key = _key_accidentals(fields["K"])
    lines = tune.strip().splitlines()
    skip = _header_length(lines)
    body = "\n".join(lines[skip:])

    def where(index: int) -> str:
        return f"line {body.count(chr(10), 0, index) + skip + 1}"

    notes: list[Note] = []
    state = {"time": Fraction(0), "bar": {}, "tuplet": (0, Fraction(1)), "broken": Fraction(1)}
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        field = re.match(r"([KMLPQ]):([^\n]*)", body[i:]) if i == 0 or body[i - 1] == "\n" else None
        field = field or re.match(r"\[([KMLPQ]):([^\]\n]*)\]", body[i:])
        if field:
            name, value = field.groups()
            if name == "K":
                key = _key_accidentals(value)
            elif name == "M":
                _meter(value)
            i += field.end()
        elif char in " \t\n\r\\-)" or char in _DECORATIONS:
            i += 1
        elif char == "!":
            end = body.find("!", i + 1)
            decoration = end != -1 and re.fullmatch(r"[A-Za-z0-9+.<>()]+", body[i + 1:end])
            i = end + 1 if decoration else i + 1
        elif char in '"{':
            end = body.find('"' if char == '"' else "}", i + 1)
            if end == -1:
                what = "a chord symbol" if char == '"' else "grace notes"
                raise ABCError(f"{where(i)}: {what} opened with {char} never closed")
            i = end + 1
        elif char in "|:[" and _bar_at(body, i):
            i = _bar_at(body, i)
            state["bar"] = {}
        elif char == "(":
            tuplet = _TUPLET.match(body, i)
            if tuplet:
                p = int(tuplet.group(1))
                q = int(tuplet.group(2)) if tuplet.group(2) else (3 if p in (2, 4, 8) else 2)
                r = int(tuplet.group(3)) if tuplet.group(3) else p
                state["tuplet"] = (r, Fraction(q, p))
                i = tuplet.end()
            else:
                i += 1
        elif char == "[":
            end = body.find("]", i + 1)
            if end == -1 or "\n" in body[i:end]:
                raise ABCError(f"{where(i)}: a chord opened with [ is never closed")
            chord = list(_NOTE.finditer(body, i + 1, end))
            if not chord or sum(m.end() - m.start() for m in chord) != end - i - 1:
                raise ABCError(f"{where(i)}: [{body[i + 1:end]}] is not a chord of notes")
            suffix = re.compile(r"(\d*)(/*)(\d*)").match(body, end + 1)
            i = _add(notes, state, key, unit, chord, _length(*suffix.groups()), body, suffix.end())
        elif match := _NOTE.match(body, i):
            i = _add(notes, state, key, unit, [match], Fraction(1), body, match.end())
        elif char in "><":
            raise ABCError(f"{where(i)}: broken rhythm {char!r} must sit between two notes")
        else:
            raise ABCError(f"{where(i)}: unexpected character {char!r}")
    if not notes:
        raise ABCError("the tune has no notes")
    return notes


def _header_length(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if line.startswith("K:"):
            return index + 1
    return len(lines)


_BAR = re.compile(r":*\|[\]|:]*\d?|:*\[\d|::|\[\|")


def _bar_at(body: str, i: int) -> int:
    """End index of a bar line or repeat sign starting at ``i``, or 0."""
    match = _BAR.match(body, i)
    return match.end() if match else 0


def _add(notes: list[Note], state: dict, key: dict[str, int], unit: Fraction, matches, factor: Fraction,
         body: str, end: int) -> int:
    """Append the notes of one note or chord at the current time, advance it; return where parsing goes on."""
    remaining, ratio = state["tuplet"]
    length = _length(*matches[0].group(4, 5, 6)) * factor * unit * state["broken"]
    if remaining:
        length *= ratio
        state["tuplet"] = (remaining - 1, ratio)
    state["broken"] = Fraction(1)
    broken = re.compile(r"\s*(>+|<+)").match(body, end)
    if broken:
        shift = 1 - Fraction(1, 2 ** len(broken.group(1)))
        first, second = (1 + shift, 1 - shift) if broken.group(1)[0] == ">" else (1 - shift, 1 + shift)
        length *= first
        state["broken"] = second
    for match in matches:
        accidental, letter, octave = match.group(1, 2, 3)
        if letter in "zxZ":
            continue
        base = 60 + _LETTER_SEMITONES[letter.upper()] + (12 if letter.islower() else 0)
        base += 12 * octave.count("'") - 12 * octave.count(",")
        slot = (letter.upper(), base)
        if accidental:
            state["bar"][slot] = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}[accidental]
        shift = state["bar"].get(slot, key.get(letter.upper(), 0))
        notes.append(Note(base + shift, float(state["time"] * 4), float(length * 4)))
    state["time"] += length
    return broken.end() if broken else end


def is_valid_abc(tune: str) -> bool:
    """True when :func:`parse_abc` accepts the tune (header X, T, M, K and a body it understands)."""
    try:
        parse_abc(tune)
    except ABCError:
        return False
    return True


def write_midi(notes: list[Note], path: str | Path, bpm: float = 120.0, program: int = 73) -> Path:
    """Write the notes as a one-track standard MIDI file (480 ticks per quarter note); returns ``path``.

    ``program`` is the General MIDI instrument (73 = flute).
    """
    ticks = 480
    events = []
    for note in notes:
        on, off = round(note.start * ticks), round((note.start + note.duration) * ticks)
        events += [(on, 1, bytes([0x90, note.pitch, 80])), (off, 0, bytes([0x80, note.pitch, 0]))]
    events.sort(key=lambda e: (e[0], e[1]))
    tempo = round(60_000_000 / bpm)
    track = b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big") + b"\x00" + bytes([0xC0, program])
    now = 0
    for time, _, message in events:
        track += _varlen(time - now) + message
        now = time
    track += b"\x00\xff\x2f\x00"
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks) + b"MTrk" + struct.pack(">I", len(track)) + track
    Path(path).write_bytes(data)
    return Path(path)


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def synthesize(notes: list[Note], bpm: float = 120.0, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render notes to a mono waveform in [-1, 1], float32 of shape ``(samples,)``, at ``rate`` Hz.

    Each note is a few harmonics of its fundamental with a short attack and an exponential decay.
    """
    seconds_per_quarter = 60.0 / bpm
    total = max(n.start + n.duration for n in notes) * seconds_per_quarter + 0.3
    audio = np.zeros(int(total * rate) + 1, dtype=np.float64)
    for note in notes:
        start = int(note.start * seconds_per_quarter * rate)
        t = np.arange(int((note.duration * seconds_per_quarter + 0.15) * rate)) / rate
        frequency = 440.0 * 2 ** ((note.pitch - 69) / 12)
        wave = sum(np.sin(2 * np.pi * k * frequency * t) / k ** 1.5 for k in (1, 2, 3, 4))
        envelope = np.minimum(t / 0.01, 1.0) * np.exp(-3.0 * t)
        audio[start:start + len(t)] += wave * envelope
    peak = np.max(np.abs(audio))
    return (audio / peak if peak > 0 else audio).astype(np.float32)


SYNTHESISERS = ("timidity", "fluidsynth")


def abc_to_midi(tune: str, path: str | Path) -> Path:
    """Convert a tune to a MIDI file with ``abc2midi``; raise :class:`ABCError` when it writes none.

    ``abc2midi`` is lenient: it skips characters it does not know and writes a file for most text
    with an ``X:`` line; :func:`parse_abc` is the strict test. Raises FileNotFoundError when
    ``abc2midi`` is not installed (package ``abcmidi``).
    """
    if shutil.which("abc2midi") is None:
        raise FileNotFoundError("abc2midi is not installed (apt-get install abcmidi)")
    Path(path).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "tune.abc"
        source.write_text(tune.strip() + "\n")
        result = subprocess.run(["abc2midi", str(source), "-o", str(path)], capture_output=True, text=True,
                                timeout=30)
    if result.returncode != 0 or not Path(path).is_file() or Path(path).stat().st_size == 0:
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        raise ABCError("abc2midi wrote no MIDI file" + (f": {errors[0]}" if errors else ""))
    return Path(path)


def _render_with_tools(tune: str, rate: int) -> np.ndarray:
    """ABC -> MIDI (abc2midi) -> WAV (timidity or fluidsynth); raise FileNotFoundError naming what is missing."""
    synthesiser = next((name for name in SYNTHESISERS if shutil.which(name)), None)
    if shutil.which("abc2midi") is None or synthesiser is None:
        missing = [package for package, found in (("abcmidi", shutil.which("abc2midi")), ("timidity", synthesiser))
                   if not found]
        raise FileNotFoundError(f"{' and '.join(missing)} not installed: apt-get install {' '.join(missing)} "
                                f"(abcmidi gives abc2midi; timidity or fluidsynth is the synthesiser)")
    from scipy.io import wavfile

    with tempfile.TemporaryDirectory() as folder:
        midi, wav = Path(folder) / "tune.mid", Path(folder) / "tune.wav"
        abc_to_midi(tune, midi)
        command = ([synthesiser, str(midi), "-Ow", "-s", str(rate), "-o", str(wav)] if synthesiser == "timidity"
                   else [synthesiser, "-ni", "-r", str(rate), "-F", str(wav), str(midi)])
        subprocess.run(command, capture_output=True, timeout=120, check=True)
        _, data = wavfile.read(wav)
    data = data.astype(np.float32).mean(axis=1) if data.ndim == 2 else data.astype(np.float32)
    peak = np.max(np.abs(data))
    return data / peak if peak > 0 else data


def tune_audio(tune: str, *, use_tools: bool = True, rate: int = SAMPLE_RATE, verbose: bool = True) -> np.ndarray:
    """A waveform of shape ``(samples,)`` for one tune: real tools when installed, else the NumPy fallback.

    Raises :class:`ABCError` when the tune does not parse. With ``verbose`` a missing tool is reported
    once, naming the package to install.
    """
    notes = parse_abc(tune)
    if use_tools:
        try:
            return _render_with_tools(tune, rate)
        except FileNotFoundError as missing:
            if verbose:
                print(f"Note: {missing}. Using the built-in NumPy synthesiser instead.")
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            if verbose:
                print(f"Note: the external tools failed ({error}); using the built-in NumPy synthesiser instead.")
    return synthesize(notes, rate=rate)


def play_abc(tune: str, *, use_tools: bool = True, rate: int = SAMPLE_RATE):
    """An ``IPython.display.Audio`` player for one tune, or None (with a message) when it does not parse."""
    from IPython.display import Audio

    try:
        audio = tune_audio(tune, use_tools=use_tools, rate=rate)
    except ABCError as error:
        title = header(tune).get("T", "untitled")
        print(f"Skipped {title!r}: not valid ABC ({error}).")
        return None
    return Audio(audio, rate=rate)


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest string that occurs in both ``a`` and ``b`` (dynamic programming, O(len a * len b))."""
    if not a or not b:
        return 0
    best = 0
    previous = np.zeros(len(b) + 1, dtype=np.int32)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    for char in a:
        current = np.zeros_like(previous)
        current[1:] = np.where(codes_b == ord(char), previous[:-1] + 1, 0)
        best = max(best, int(current.max()))
        previous = current
    return best
