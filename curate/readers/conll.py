"""IOB / IOB2 / BIOES token files (CoNLL style): one token per line, tags in a column, blank lines between sentences.

The text and character offsets are rebuilt from the tokens (joined by ``token_separator``), so every
entity span is exact by construction; tag-sequence errors are reported, never guessed silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_text, text_lines
from schemas.documents import Entity, IEDocument, Passage

_PREFIXES = {"B", "I", "E", "S", "L", "U"}


class CoNLLOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    separator: str | None = Field("\t", description="column separator; null = any run of white space")
    token_column: int = Field(0, description="column of the token (0-based; negative counts from the end)")
    tag_column: int = Field(-1, description="column of the tag (0-based; negative counts from the end)")
    scheme: Literal["iob2", "iob1", "bioes"] = Field(
        "iob2", description="iob2: every entity starts with B-; iob1: I- may start one; bioes: also E-/S- (L-/U-)")
    outside_tag: str = "O"
    tag_separator: str = Field("-", description="between prefix and type: B-protein")
    token_separator: str = Field(" ", description="what joins tokens into the text (\"\" for Chinese characters)")
    document_separators: list[str] = Field(
        default_factory=lambda: ["-DOCSTART-", "###MEDLINE:"],
        description="a line whose first token starts with one of these begins a new document; the rest is its id")
    comment_prefixes: list[str] = Field(default_factory=list, description="lines starting with these are skipped")
    documents: Literal["sentence", "document"] = Field(
        "sentence", description="sentence: each sentence is a document; document: sentences joined by newlines")


Token = tuple[int, list[str]]  # (line number, columns)


class CoNLLReader(Reader):
    name = "conll"
    Options = CoNLLOptions
    description = "IOB/IOB2/BIOES CoNLL token files; text and offsets rebuilt from tokens"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: CoNLLOptions = self.options  # type: ignore[assignment]
        text = read_text(path, ctx, opts.encoding)
        if text is None:
            return
        stem = Path(path.split("!")[-1]).name.split(".")[0]
        doc_id = stem
        doc_sentences: list[list[Token]] = []
        sentence: list[Token] = []
        n_docs = 0

        def flush_document() -> Iterator[IEDocument]:
            if opts.documents == "document" and doc_sentences:
                doc = self._document(doc_id, list(doc_sentences), ctx)
                if doc is not None:
                    yield doc
            doc_sentences.clear()

        def end_sentence() -> Iterator[IEDocument]:
            if not sentence:
                return
            tokens = list(sentence)
            sentence.clear()
            if opts.documents == "document":
                doc_sentences.append(tokens)
                return
            doc = self._document(f"{doc_id}:s{tokens[0][0]}", [tokens], ctx)
            if doc is not None:
                yield doc

        for number, line in text_lines(text):
            if not line.strip():
                yield from end_sentence()
                continue
            if any(line.startswith(p) for p in opts.comment_prefixes):
                continue
            first = line.split(opts.separator)[0] if opts.separator else line.split()[0]
            marker = next((m for m in opts.document_separators if first.startswith(m)), None)
            if marker is not None:
                yield from end_sentence()
                yield from flush_document()
                n_docs += 1
                rest = line[len(marker):].strip().split()
                # "###MEDLINE:12345" names its document; "-DOCSTART- -X- O O" does not
                doc_id = rest[0] if rest and rest[0] not in (opts.outside_tag, "-X-") else f"{stem}:d{n_docs}"
                continue
            sentence.append((number, self._columns(line)))
        yield from end_sentence()
        yield from flush_document()

    def _columns(self, line: str) -> list[str]:
        """The columns of a token line. A white-space token (a space, U+3000, a no-break space: a character of
        a char-per-line Chinese file) is eaten by ``split``; it is the line's first character, kept as is."""
        opts: CoNLLOptions = self.options  # type: ignore[assignment]
        cols = line.split(opts.separator) if opts.separator else line.split()
        if opts.token_column != 0 or not line[:1].isspace():
            return cols
        if opts.separator and not cols[0].strip():
            return [line[0], *line[1:].removeprefix(opts.separator).split(opts.separator)]
        if not opts.separator and len(cols) == 1:  # split() left the tag alone: the token was white space
            return [line[0], *cols]
        return cols

    def _document(self, doc_id: str, sentences: list[list[Token]], ctx: ReadContext) -> IEDocument | None:
        opts: CoNLLOptions = self.options  # type: ignore[assignment]
        first_line = sentences[0][0][0]
        need = max(opts.token_column if opts.token_column >= 0 else -opts.token_column - 1,
                   opts.tag_column if opts.tag_column >= 0 else -opts.tag_column - 1) + 1
        pieces: list[str] = []
        passages: list[Passage] = []
        entities: list[Entity] = []
        pos = 0
        for s_index, tokens in enumerate(sentences):
            if s_index:
                pieces.append("\n")
                pos += 1
            s_start = pos
            open_entity: tuple[str, int, int, int] | None = None  # type, start, end, line of its first token

            def close() -> None:
                nonlocal open_entity
                if open_entity is not None:
                    etype, start, end, first_line = open_entity
                    if ctx.labels and etype not in ctx.labels:
                        ctx.reject(f"unknown entity type {etype!r}", line=first_line, record_id=doc_id, field="tag",
                                   action="dropped")
                        open_entity = None
                        return
                    entities.append(Entity(id=f"T{len(entities)}", type=etype, offsets=[(start, end)],
                                           text=[""]))  # filled in once the text is complete
                    open_entity = None

            for t_index, (number, cols) in enumerate(tokens):
                if len(cols) < need or (len(cols) < 2 and opts.token_column != opts.tag_column):
                    ctx.reject(f"line has {len(cols)} columns, the token and tag columns need {need}", line=number,
                               record_id=doc_id, field="(columns)")
                    return None
                raw_token, tag = cols[opts.token_column], cols[opts.tag_column].strip()
                token = raw_token.strip() or raw_token  # a white-space character is a token of its own
                if not token:
                    ctx.reject("empty token", line=number, record_id=doc_id, field="token")
                    return None
                if t_index:
                    pieces.append(opts.token_separator)
                    pos += len(opts.token_separator)
                start, end = pos, pos + len(token)
                pieces.append(token)
                pos = end
                if tag == opts.outside_tag:
                    close()
                    continue
                prefix, sep, etype = tag.partition(opts.tag_separator)
                if not sep or prefix not in _PREFIXES or not etype:
                    ctx.reject(f"tag {tag!r} is neither {opts.outside_tag!r} nor PREFIX{opts.tag_separator}TYPE",
                               line=number, record_id=doc_id, field="tag")
                    return None
                continues = open_entity is not None and open_entity[0] == etype and prefix in ("I", "E", "L")
                if continues:
                    assert open_entity is not None
                    open_entity = (etype, open_entity[1], end, open_entity[3])
                else:
                    close()
                    if prefix in ("I", "E", "L") and opts.scheme != "iob1":
                        ctx.reject(f"tag {tag!r} continues no entity; read as the start of one", line=number,
                                   record_id=doc_id, field="tag", action="repaired")
                    open_entity = (etype, start, end, number)
                if prefix in ("E", "L", "S", "U"):
                    close()
            close()
            passages.append(Passage(id=f"s{s_index}", type="sentence", offsets=[(s_start, pos)]))
        text = "".join(pieces)
        for entity in entities:  # text was still growing when the entity was closed
            (start, end), = entity.offsets
            entity.text = [text[start:end]]
        return ctx.make(IEDocument, line=first_line, record_id=doc_id, id=ctx.unique_id(doc_id), document_id=doc_id,
                        split=ctx.split, text=text, passages=passages, entities=entities)

