"""Field-mapping pipelines: Sigma taxonomy field names -> the ECS names our events carry.

The mappings are pySigma processing pipelines written as YAML in ``rules/pipelines/``
(format: https://sigmahq-pysigma.readthedocs.io/en/latest/Processing_Pipelines.html). Each item
is conditioned on a non-Windows logsource (firewall, dns, webserver/proxy, linux services,
zeek), so Windows rules keep their field names: Windows events are flattened to those names.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline

from siem.errors import RuleError

#: ``rules/pipelines`` of the project (beside the ``siem`` package in a source checkout).
PIPELINES_DIR = Path(__file__).resolve().parent.parent.parent / "rules" / "pipelines"


def pipeline_files(directory: str | Path = PIPELINES_DIR) -> list[Path]:
    """The pipeline YAML files of ``directory``, in name order (the order they apply in)."""
    path = Path(directory)
    if not path.is_dir():
        raise RuleError(f"pipeline directory not found: {path}", path=str(path))
    return sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def load_pipeline(path: str | Path) -> ProcessingPipeline:
    """One pipeline file; a broken file raises RuleError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        return ProcessingPipeline.from_yaml(text, source_path=str(path))
    except OSError as error:
        raise RuleError(f"cannot read pipeline: {error.strerror}", path=str(path)) from error
    except (SigmaError, yaml.YAMLError, ValueError, TypeError, KeyError) as error:
        raise RuleError(f"invalid pipeline: {error}", path=str(path)) from error


def merge_pipelines(pipelines: Iterable[ProcessingPipeline]) -> ProcessingPipeline:
    """Concatenate pipelines in order (pySigma ``+``)."""
    merged = ProcessingPipeline()
    for pipeline in pipelines:
        merged = merged + pipeline
    return merged


def default_pipeline(directory: str | Path = PIPELINES_DIR) -> ProcessingPipeline:
    """The field-mapping pipeline: every YAML file of ``rules/pipelines/`` merged."""
    return merge_pipelines(load_pipeline(path) for path in pipeline_files(directory))
