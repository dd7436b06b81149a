"""hdpmusic.runtime.validation: the declarative parameter constraints of every estimator."""

import ast
import inspect
import math
import re
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pytest

from hdpmusic.representations.registry import MODELS, model_class
from hdpmusic.runtime.errors import ParameterError
from hdpmusic.runtime.validation import (
    Boolean,
    Interval,
    Options,
    constraints_of,
    validate_params,
)


@pytest.mark.parametrize("constraint, admitted, refused", [
    (Interval(Integral, 1, None), [1, 7, np.int64(3)], [0, -1, 1.5, True, "2", None]),
    (Interval(Real, 0, 1, closed="left"), [0, 0.5, np.float32(0.99)],
     [1, 1.0, -0.1, math.nan, False]),
    (Interval(Real, 0, None, closed="neither"), [1e-9, 5, 1e300], [0, math.inf, math.nan]),
    (Interval(Real, None, 2, closed="right"), [-5, 2], [2.5, -math.inf]),
    (Options({"a", "b"}), ["a", "b"], ["c", None, ["a"]]),
    (Boolean(), [True, False, np.bool_(True) is True], [0, 1, "yes"]),
])
def test_constraints_admit_exactly_their_values(constraint, admitted, refused):
    assert all(constraint.admits(v) for v in admitted)
    assert not any(constraint.admits(v) for v in refused)


def test_descriptions():
    assert Interval(Integral, 1, None).describe() == "a whole number >= 1"
    assert Interval(Real, 0, 1, closed="left").describe() == "a finite number in [0, 1)"
    assert Interval(Real, 0, None, closed="neither").describe() == "a finite number > 0"
    assert Options({"b", "a"}).describe() == "one of 'a', 'b'"


class Base:
    _parameter_constraints: ClassVar[dict] = {"n": [Interval(Integral, 1, None)],
                                              "mode": [Options({"x"})]}

    def __init__(self, n=1, mode="x", scale=None):
        self.n, self.mode, self.scale = n, mode, scale


class Child(Base):
    _parameter_constraints: ClassVar[dict] = {
        "mode": [Options({"x", "y"})],
        "scale": [Interval(Real, 0, None, closed="neither"), None]}


def test_a_subclass_extends_and_overrides_its_bases_table():
    assert set(constraints_of(Child)) == {"n", "mode", "scale"}
    validate_params(Child(mode="y", scale=None))
    with pytest.raises(ParameterError, match="mode must be one of 'x', got 'y'"):
        validate_params(Base(mode="y"))
    with pytest.raises(ParameterError,
                       match=r"scale must be a finite number > 0 or None, got 0"):
        validate_params(Child(scale=0))
    with pytest.raises(ParameterError, match="n must be a whole number >= 1, got 0"):
        validate_params(Child(n=0))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_estimator_constrains_its_parameters_and_admits_its_defaults(name):
    cls = model_class(name)
    table = constraints_of(cls)
    params = inspect.signature(cls).parameters
    unconstrained = set(params) - set(table) - {"device"}   # devices: resolve_device
    assert not unconstrained, f"{name}: no constraint for {sorted(unconstrained)}"
    model = cls()
    validate_params(model)                                  # the defaults are admitted
    first = next(p for p, c in table.items() if isinstance(c[0], Interval))
    setattr(model, first, -1)
    with pytest.raises(ParameterError, match=f"{first} must be"):
        validate_params(model)


def _documented_defaults(doc):
    """``name -> default text`` of a numpydoc Parameters section."""
    section = doc.split("Parameters\n    ----------\n", 1)[1].split("\n    Attributes\n", 1)[0]
    return dict(re.findall(r"^    (\w+) : .*, default=(.+)$", section, re.M))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_documents_its_default(name):
    """numpydoc ``default=`` for every constructor parameter, equal to the signature's."""
    cls = model_class(name)
    documented = _documented_defaults(cls.__doc__)
    for param, spec in inspect.signature(cls).parameters.items():
        assert param in documented, f"{name}: {param} has no 'default=' in the docstring"
        text = documented[param]
        shown = ast.literal_eval(text)
        assert shown == spec.default, (name, param, text, spec.default)
