"""Fleet problems: the schema, the loader and the sourced catalogs."""

from .catalog import (HardwareSpec, ModelSpec, engine_families, get_hardware, get_model, hardware_catalog,
                      model_catalog, price_basis)
from .errors import (BackendError, InfeasibleError, InputError, InternalError,
                     TokenfleetError, UnknownNameError)
from .loader import (DEFAULT_EXAMPLE, MAX_FILE_BYTES, ProblemError, bundled_examples, load, load_dict,
                     parse_json, parse_yaml, problem_from_dict, read_bytes, read_text, read_yaml)
from .schema import SCHEMA_VERSION, Problem, Workload

__all__ = [
    "BackendError", "InfeasibleError", "InputError", "InternalError", "TokenfleetError", "UnknownNameError",
    "DEFAULT_EXAMPLE", "SCHEMA_VERSION", "HardwareSpec", "ModelSpec", "Problem", "ProblemError",
    "Workload", "bundled_examples", "engine_families", "get_hardware", "get_model", "hardware_catalog", "load",
    "load_dict", "model_catalog", "price_basis", "problem_from_dict", "MAX_FILE_BYTES", "parse_json", "parse_yaml",
    "read_bytes", "read_text", "read_yaml",
]
