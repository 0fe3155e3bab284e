"""Line-aligned parallel text (ParaMed, WMT-style): ``<name>.en`` line *i* translates ``<name>.zh`` line *i*.

The catalog lists one side's files; the other sides are the same path with the other language's suffix.
A line number is a record: a pair with an empty side, or a line one side has and another lacks, is a
named reject, so ``read = documents + rejected`` holds per line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, path_exists, read_text, text_lines
from schemas.documents import TranslationDocument

_MOSES_JOINER = re.compile(r" ?@([-/#]|,)@ ?")  # Moses' "@-@" (and @/@, @,@) join what the tokenizer split


class ParallelTextOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suffixes: dict[str, str] = Field(
        default_factory=lambda: {"en": ".en", "zh": ".zh"},
        description="language -> file-name suffix; the listed file ends with one of them, the others sit beside it")
    encoding: str = "utf-8"
    moses_unescape: bool = Field(
        False, description="undo Moses escapes (`&quot;`, `&apos;`, `&#91;`, ` @-@ `) in every side")


class ParallelTextReader(Reader):
    name = "parallel_text"
    Options = ParallelTextOptions
    description = "Line-aligned parallel text files, one per language (`nejm.dev.en` + `nejm.dev.zh`)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[TranslationDocument]:
        opts: ParallelTextOptions = self.options  # type: ignore[assignment]
        own = [suffix for suffix in opts.suffixes.values() if path.endswith(suffix)]
        if len(opts.suffixes) < 2 or not own:
            ctx.reject(f"the file name ends with none of the suffixes {sorted(opts.suffixes.values())}: list one "
                       "side's files and set `suffixes` (language -> suffix)", field="(file)")
            return
        stem = path[: -len(own[0])]
        sides: dict[str, list[str]] = {}
        for language, suffix in opts.suffixes.items():
            side_path = stem + suffix
            if not path_exists(side_path):
                ctx.reject(f"no {language} side: {side_path} does not exist", field="(file)")
                return
            text = read_text(side_path, ctx, opts.encoding)
            if text is None:
                return
            sides[language] = [line.rstrip("\r") for _, line in text_lines(text)]
        lengths = {language: len(lines) for language, lines in sides.items()}
        for index in range(max(lengths.values())):
            number = index + 1
            record_id = ctx.position_id(f"line{number}")
            short = [language for language, n in lengths.items() if n <= index]
            if short:
                ctx.reject(f"line {number} has no counterpart in {short} (line counts {lengths})", line=number,
                           record_id=record_id, field="(alignment)")
                continue
            texts = {language: lines[index].strip() for language, lines in sides.items()}
            empty = [language for language, value in texts.items() if not value]
            if empty:
                ctx.reject(f"the {'/'.join(empty)} side of line {number} is empty", line=number, record_id=record_id,
                           field="texts")
                continue
            if opts.moses_unescape:
                texts = {language: _unescape(value) for language, value in texts.items()}
            doc = ctx.make(TranslationDocument, line=number, record_id=record_id, id=ctx.unique_id(record_id),
                           document_id=record_id, split=ctx.split, texts=texts)
            if doc is not None:
                yield doc


def _unescape(text: str) -> str:
    return html.unescape(_MOSES_JOINER.sub(lambda m: m.group(1), text))
