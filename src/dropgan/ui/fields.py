"""The page's engine-parameter fields, made from the engines' parameter dataclasses.

As for the command line, the registry is the only list: every field of an engine's
parameter dataclass becomes one input of the page, labelled by its name, explained by its
``help`` metadata and filled with its default for the task. Nothing here imports Gradio:
:func:`param_fields` says what to draw and :func:`parse_params` reads the values back.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

from ..engines import ENGINES
from ..engines.base import engines_for
from ..errors import InputError

__all__ = ["ParamField", "default_engine", "param_fields", "parse_params"]


@dataclass(frozen=True)
class ParamField:
    """One engine parameter as the page shows it.

    Attributes
    ----------
    name : str
        The parameter's name (the API keyword).
    kind : {"int", "float", "bool", "choice", "text"}
        The input to draw: a number box (whole or real), a check box, a menu (the field's
        ``choices`` metadata) or a text box (anything else: optional values, ``inf``).
    default : object
        The task's default (the engine's unless the task has its own); None for "the
        engine decides", which a text box shows empty with :attr:`placeholder`.
    help : str
        The field's one-line help.
    base : type
        The value's type without ``None``: how a text box is read back.
    choices : tuple of str
        The values of a ``"choice"`` field.
    placeholder : str
        What an empty text box means (the field's ``default_text`` metadata).
    """

    name: str
    kind: str
    default: object
    help: str
    base: type
    choices: tuple[str, ...] = ()
    placeholder: str = ""

    @property
    def value(self) -> object:
        """The value the input starts with."""
        if self.kind == "text":
            return "" if self.default is None else _text(self.default)
        return self.default


def _text(value: object) -> str:
    if isinstance(value, float):
        return "inf" if value == math.inf else f"{value:g}"
    return str(value)


def default_engine(task: str) -> str:
    """The engine a task uses unless told otherwise (the first registered that serves it)."""
    names = engines_for(task)
    if not names:
        raise InputError(f"no engine does {task}")
    return names[0]


def param_fields(engine: str, task: str) -> list[ParamField]:
    """The fields of ``engine``'s parameters for ``task``, in the dataclass's order.

    Examples
    --------
    >>> f = {p.name: p for p in param_fields("gpnn", "retarget")}
    >>> f["alpha"].kind, f["alpha"].value, f["ratio"].value
    ('float', 0.005, 0.8)
    >>> f = {p.name: p for p in param_fields("gpnn", "generate")}
    >>> f["alpha"].kind, f["alpha"].value, f["iters"].kind, f["iters"].value
    ('text', 'inf', 'int', 10)
    """
    eng = ENGINES[engine]
    hints = typing.get_type_hints(eng.params_type)
    overrides = eng.task_defaults.get(task, {})
    fields = []
    for f in dataclasses.fields(eng.params_type):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if args else hint
        optional = type(None) in typing.get_args(hint)
        default = overrides.get(f.name, f.default)
        choices = tuple(f.metadata.get("choices", ()))
        if choices:
            kind = "choice"
        elif base is bool and not optional:
            kind = "bool"
        elif base is int and not optional:
            kind = "int"
        elif base is float and not optional and math.isfinite(default):
            kind = "float"
        else:  # None and inf cannot live in a number box (JSON has neither)
            kind = "text"
        fields.append(
            ParamField(
                f.name,
                kind,
                default,
                f.metadata["help"],
                base,
                choices,
                f.metadata.get("default_text", ""),
            )
        )
    return fields


def _read(field: ParamField, value: object) -> object:
    """A widget's value as the API takes it; None for an empty input."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if field.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if field.kind != "text" or not isinstance(value, str):
        return value
    text = value.strip()
    if field.base is bool:
        answer = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if text.lower() not in answer:
            raise InputError(f"{field.name} must be true or false, got {text!r}")
        return answer[text.lower()]
    if field.base is float:
        try:
            return float(text)
        except ValueError:
            raise InputError(f"{field.name} must be a number, got {text!r}") from None
    if field.base is int:
        try:
            return int(text)
        except ValueError:
            return text  # e.g. a byte count "512M", which the engine reads itself
    return text


def parse_params(engine: str, task: str, values: dict[str, object]) -> dict[str, object]:
    """The parameters the user changed, by name, read from the inputs' ``values``: what to
    pass to the task (those left at the default are left out, so that the task's own
    defaults apply, as on the command line).

    Examples
    --------
    >>> parse_params("gpnn", "generate", {"iters": 2, "alpha": "inf", "nn": "exact"})
    {'iters': 2, 'nn': 'exact'}
    """
    changed = {}
    for field in param_fields(engine, task):
        if field.name not in values:
            continue
        value = _read(field, values[field.name])
        if value is not None and value != field.default:
            changed[field.name] = value
    return changed
