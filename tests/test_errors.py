"""One error family: every error raised on purpose is a TokenfleetError whose kind sets the exit."""

import pytest

import optimizer
import problems
from optimizer import cli
from problems.errors import (BackendError, InfeasibleError, InputError, InternalError, TokenfleetError,
                             UnknownNameError)


def test_public_errors_belong_to_the_family():
    from kernels.backends import BackendUnavailable
    from kernels.predict import PredictError
    from optimizer.sweeps import SweepError

    for cls in (problems.ProblemError, PredictError, SweepError):
        assert issubclass(cls, InputError) and issubclass(cls, ValueError)
    assert issubclass(BackendUnavailable, BackendError)
    assert {InputError.exit_code, InfeasibleError.exit_code, BackendError.exit_code, InternalError.exit_code} \
        == {1, 2, 3}


def test_unknown_catalog_id_is_an_input_error_and_a_key_error_with_a_plain_message():
    with pytest.raises(UnknownNameError) as e:
        problems.get_hardware("h100-sxn")
    assert isinstance(e.value, KeyError) and isinstance(e.value, InputError)
    assert str(e.value).startswith("unknown hardware 'h100-sxn'") and "h100-sxm" in str(e.value)


@pytest.mark.parametrize("exc, code", [(KeyError("bug"), 1), (InternalError("bug"), 1),
                                       (InputError("bad"), 2), (InfeasibleError("no"), 3)])
def test_cli_maps_the_error_kind_to_the_exit_code_never_a_bare_key_error_to_2(monkeypatch, exc, code):
    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(cli, "_load", boom)
    assert cli.main(["validate", "chat-mixed-fleet"]) == code


def test_optimizer_sweep_is_reachable_as_an_attribute():
    assert callable(optimizer.SweepSpec.from_cli)
    assert issubclass(optimizer.TokenfleetError, Exception)
    assert optimizer.InputError is InputError and TokenfleetError in InputError.__mro__
