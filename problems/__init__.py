"""Fleet problems: the schema, the loader and the sourced catalogs."""

from .catalog import (HardwareSpec, ModelSpec, get_hardware, get_model, hardware_catalog,
                      model_catalog)
from .errors import (BackendError, InfeasibleError, InputError, InternalError,
                     TokenfleetError, UnknownNameError)
from .loader import DEFAULT_EXAMPLE, ProblemError, bundled_examples, load, load_dict, problem_from_dict
from .schema import SCHEMA_VERSION, Problem, Workload

__all__ = [
    "BackendError", "InfeasibleError", "InputError", "InternalError", "TokenfleetError", "UnknownNameError",
    "DEFAULT_EXAMPLE", "SCHEMA_VERSION", "HardwareSpec", "ModelSpec", "Problem", "ProblemError",
    "Workload", "bundled_examples", "get_hardware", "get_model", "hardware_catalog", "load",
    "load_dict", "model_catalog", "problem_from_dict",
]
