"""PaddleOCR's pipeline options, declared once. The daemon's `[ocr]` section is this model; the `ocr` command's flags,
the serving request's camelCase fields and EdgeOCR's keywords are derived from it, and all of them are checked by
its one validation. Unset (None) keeps the profile's value, which is the official default."""
from __future__ import annotations

import math
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .tomlfile import problems


class OcrOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    use_doc_orientation_classify: bool | None = Field(None, description="turn pages by the document orientation model")
    use_doc_unwarping: bool | None = Field(None, description="not available on this device: true is refused")
    use_textline_orientation: bool | None = Field(None, description="turn upside-down text lines before recognition")
    text_det_limit_side_len: int | None = Field(None, gt=0, description="detection size limit (default 64)")
    text_det_limit_type: Literal["min", "max", "resize_long"] | None = Field(
        None, description="how the size limit applies (default min)")
    text_det_max_side_limit: int | None = Field(None, ge=32, description="largest detection side (default 4000)")
    text_det_thresh: float | None = Field(None, ge=0, le=1, description="pixel threshold of the text map (default 0.3)")
    text_det_box_thresh: float | None = Field(None, ge=0, le=1, description="box score threshold (default 0.6)")
    text_det_unclip_ratio: float | None = Field(None, gt=0, description="box expansion (default 1.5)")
    text_rec_score_thresh: float | None = Field(None, ge=0, le=1,
                                                description="drop lines scored below this (default 0.0)")
    return_word_box: bool | None = Field(None, description=(
        "also give each line's words and characters with their boxes (text_word, text_word_boxes)"))

    @field_validator("use_doc_unwarping")
    @classmethod
    def _no_unwarping(cls, v: bool | None) -> bool | None:
        if v:
            raise ValueError("document unwarping (UVDoc) is not available on this device; scan pages flat, or leave "
                             "it off")
        return v

    @field_validator("text_det_unclip_ratio", "text_det_thresh", "text_det_box_thresh", "text_rec_score_thresh")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @classmethod
    def checked(cls, **values: Any) -> "OcrOptions":
        """The options from keyword arguments; a wrong value or an unknown name is a ConfigError naming it."""
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            raise ConfigError("invalid OCR option: " + "; ".join(problems(e, unknown="unknown option")),
                              hint=f"the options are: {', '.join(cls.model_fields)}") from None

    def given(self) -> dict[str, Any]:
        """Only the options that were set (None keeps the default), as EdgeOCR/pipeline keywords."""
        return {k: v for k, v in self.model_dump().items() if v is not None and k != "use_doc_unwarping"}


def camel(name: str) -> str:
    """The serving API's spelling of an option: text_det_thresh -> textDetThresh."""
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def value_kind(name: str) -> tuple[type, tuple | None]:
    """(bool | int | float | str, choices) of an option, for command-line parsing."""
    ann = OcrOptions.model_fields[name].annotation
    inner = [a for a in get_args(ann) if a is not type(None)][0]
    literal = get_args(inner)
    return (str, literal) if literal else (inner, None)
