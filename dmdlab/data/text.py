"""Raw transcripts: MMSA ``label.csv`` tables and BERT inputs (``text_bert``) from any local tokenizer.

MMSA ships each dataset's transcripts and labels as ``label.csv``: one row per clip with
``video_id`` and ``clip_id`` (or one ``id`` column ``<video_id>_<clip_id>``), ``text``,
``label`` and ``mode`` (``train`` / ``valid`` -- some copies say ``dev`` -- / ``test``).
:func:`load_label_csv` reads and validates one; :func:`tokenize_text` turns transcripts
into the (N, 3, T_L) int64 ``text_bert`` layout (token ids, attention mask, segment ids)
with any BERT-family tokenizer found on disk -- nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from dmdlab.data.errors import DatasetError

MODE_ALIASES = {"train": "train", "valid": "valid", "dev": "valid", "test": "test"}
CHARS_PER_TOKEN = 200
"""A transcript is cut to ``max_len * CHARS_PER_TOKEN`` characters (at least 10 000) before it is
tokenized: only the first ``max_len`` tokens are kept anyway, and a 10 MiB cell would otherwise
take a minute to tokenize. Only a text whose first ``max_len`` tokens span more characters (words
of hundreds of letters) tokenizes differently."""


def load_label_csv(path: str | Path, *, label_range: tuple[float, float] = (-3.0, 3.0)) -> pd.DataFrame:
    """Read an MMSA ``label.csv``.

    Returns a DataFrame with columns ``id`` (``video$_$clip``, as in the pickles),
    ``video_id``, ``clip_id`` (str), ``text`` (str, '' when empty), ``label`` (float) and
    ``mode`` ('train' / 'valid' / 'test'; 'dev' is renamed 'valid'), in file order.

    Raises:
        DatasetError: a required column is missing, a mode is unknown, or a label is not a
            finite number in ``label_range``; the message names the file, row and column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such label table")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        reason = " ".join(str(error).split())   # pandas' messages end with a newline
        raise DatasetError(f"{path}: not a readable csv table ({reason})") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror or error})") from None
    columns = set(table.columns)
    if {"video_id", "clip_id"} <= columns:
        video, clip = table["video_id"].astype(str), table["clip_id"].astype(str)
    elif "id" in columns:
        parts = table["id"].astype(str).str.rsplit("_", n=1, expand=True)
        if parts.shape[1] != 2 or parts[1].isna().any():
            row = int(parts[1].isna().idxmax()) if parts.shape[1] == 2 else 0
            raise DatasetError(f"{path}: row {row + 2}, column 'id': expected '<video_id>_<clip_id>', "
                               f"found {table['id'].iloc[row]!r}")
        video, clip = parts[0], parts[1]
    else:
        raise DatasetError(f"{path}: missing column: expected 'id' or 'video_id' and 'clip_id', "
                           f"found columns {list(table.columns)}")
    for column in ("text", "label", "mode"):
        if column not in columns:
            raise DatasetError(f"{path}: missing column {column!r}: expected columns "
                               f"('id' or 'video_id'+'clip_id'), 'text', 'label', 'mode'; found {list(table.columns)}")
    mode = table["mode"].str.strip().str.lower()
    unknown = ~mode.isin(list(MODE_ALIASES))
    if unknown.any():
        row = int(unknown.idxmax())
        raise DatasetError(f"{path}: row {row + 2}, column 'mode': expected one of {sorted(MODE_ALIASES)}, "
                           f"found {table['mode'].iloc[row]!r} ({int(unknown.sum())} such rows)")
    label = pd.to_numeric(table["label"], errors="coerce")
    low, high = label_range
    bad = label.isna() | ~np.isfinite(label) | (label < low) | (label > high)
    if bad.any():
        row = int(bad.idxmax())
        raise DatasetError(f"{path}: row {row + 2}, column 'label': expected a finite number in "
                           f"[{low:g}, {high:g}], found {table['label'].iloc[row]!r} ({int(bad.sum())} such rows)")
    return pd.DataFrame({
        "id": video + "$_$" + clip,
        "video_id": video,
        "clip_id": clip,
        "text": table["text"].astype(str),
        "label": label.astype(np.float64),
        "mode": mode.map(MODE_ALIASES),
    })


def load_tokenizer(tokenizer_or_path: Any):
    """A tokenizer object as is, or ``AutoTokenizer.from_pretrained(path, local_files_only=True,
    trust_remote_code=False)``: nothing is downloaded, no code of the folder runs, nothing prompts."""
    if not isinstance(tokenizer_or_path, (str, Path)):
        return tokenizer_or_path
    from transformers import AutoTokenizer  # heavy import, only when needed

    path = Path(tokenizer_or_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no tokenizer folder (give a local BERT checkpoint folder; "
                                "nothing is downloaded)")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise DatasetError(f"{path}: not a local tokenizer folder transformers can read without running its code "
                           f"({first})") from None


def vocabulary_size(tokenizer_or_path: Any) -> int:
    """The number of token ids a local BERT model folder embeds (its config's ``vocab_size``), or of a tokenizer."""
    if isinstance(tokenizer_or_path, (str, Path)) and (Path(tokenizer_or_path) / "config.json").is_file():
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(str(tokenizer_or_path), local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError, TypeError, KeyError) as error:
            first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            raise DatasetError(f"{tokenizer_or_path}: its config.json cannot be read without running code ({first})"
                               ) from None
        return int(config.vocab_size)
    return len(load_tokenizer(tokenizer_or_path))


def tokenize_text(texts: Sequence[str], tokenizer_or_path: Any, max_len: int = 50) -> np.ndarray:
    """BERT inputs for ``texts`` in the MMSA ``text_bert`` layout.

    Returns an int64 array (N, 3, max_len): row 0 token ids (``[CLS] ... [SEP]`` then
    padding, truncated to ``max_len``), row 1 the attention mask, row 2 the segment
    (token type) ids -- zeros when the tokenizer has none.
    """
    if not isinstance(max_len, int) or max_len < 2:
        raise ValueError(f"max_len must be an int >= 2 ([CLS] and [SEP]). Got {max_len!r}.")
    tokenizer = load_tokenizer(tokenizer_or_path)
    limit = max(10_000, max_len * CHARS_PER_TOKEN)
    texts = [str(t)[:limit] for t in (texts.tolist() if isinstance(texts, np.ndarray) else texts)]
    if not texts:
        return np.zeros((0, 3, max_len), dtype=np.int64)
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=max_len,
                        return_attention_mask=True, return_token_type_ids=True, return_tensors="np")
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    mask = np.asarray(encoded["attention_mask"], dtype=np.int64)
    segments = np.asarray(encoded.get("token_type_ids", np.zeros_like(ids)), dtype=np.int64)
    return np.stack([ids, mask, segments], axis=1)



def load_encoder(path: str | Path):
    """A local BERT-family model folder as a frozen transformers model in eval mode (nothing is downloaded)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no text encoder folder (expected a local BERT-family model with "
                                "config.json and weights; nothing is downloaded)")
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()   # no "Loading weights" bar
    try:
        return AutoModel.from_pretrained(str(path), local_files_only=True).eval().requires_grad_(False)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def encode_text(text_bert: np.ndarray, model: Any, *, batch_size: int = 256) -> np.ndarray:
    """The last hidden states of a BERT-family encoder over ``text_bert`` (N, 3, T), as MMSA's ``text``.

    ``model``: a transformers model or a local folder (:func:`load_encoder`). Returns float32
    (N, T, hidden); the steps after ``[SEP]`` (mask 0) are zero, so pooling over the non-zero
    steps reads the transcript's tokens only. The encoder runs frozen, in batches.
    """
    import torch

    if isinstance(model, (str, Path)):
        model = load_encoder(model)
    uses_segments = getattr(model.config, "type_vocab_size", 0) > 0
    ids, mask, segments = (torch.from_numpy(np.ascontiguousarray(text_bert[:, row])) for row in range(3))
    out = np.zeros((len(text_bert), text_bert.shape[-1], model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(text_bert), batch_size):
            rows = slice(start, start + batch_size)
            longest = max(int(mask[rows].sum(1).max()), 1)     # run on the batch's longest clip only
            extra = {"token_type_ids": segments[rows, :longest]} if uses_segments else {}
            states = model(input_ids=ids[rows, :longest], attention_mask=mask[rows, :longest],
                           **extra).last_hidden_state                                   # (n, longest, hidden)
            out[rows, :longest] = (states * mask[rows, :longest, None]).numpy()
    return out
