"""Publishing a changed workflow (pure): records in stages the new version no longer has must be
moved by a mapping ``{old_stage: new_stage}`` the admin gives, or the publish is refused with
the number of records in each such stage. Nothing is left stranded in a stage that no longer
exists."""

from __future__ import annotations

from collections.abc import Mapping

from builder.form import FormDefinition
from builder.i18n import register, translate
from runtime.errors import FieldError, RecordValidationError

register(
    {
        "stage_in_use": {
            "zh": "有 {count} 条记录处于阶段“{stage}”，新版本删除了该阶段；请在 stage_mapping "
            "中指定要移入的阶段",
            "en": "{count} records are in stage '{stage}', which this version removes; name the "
            "stage to move them to in stage_mapping",
        },
        "stage_mapping_not_removed": {
            "zh": "阶段“{stage}”在新版本中仍然存在（或没有记录），不能映射",
            "en": "stage '{stage}' still exists in the new version (or holds no records); it "
            "cannot be mapped",
        },
        "stage_mapping_unknown_target": {
            "zh": "新版本中没有阶段“{stage}”",
            "en": "the new version has no stage '{stage}'",
        },
    }
)


class StageMappingError(RecordValidationError):
    """Publishing would strand records, or the stage mapping is wrong; nothing was published.
    ``errors`` has one entry per stage (``field`` is ``stage_mapping.<stage>``)."""

    code = "stage_mapping_refused"


def stage_moves(
    new: FormDefinition,
    in_removed: Mapping[str, int],
    mapping: Mapping[str, str],
    lang: str = "zh",
) -> dict[str, str]:
    """The moves to make, ``{old_stage: new_stage}``, given the live records per stage that
    ``new`` does not have (``in_removed``) and the admin's ``mapping``.

    Raises: StageMappingError (a stage with records unmapped, a mapping from a stage that is not
    removed, or to a stage that ``new`` does not have).
    """
    wf = new.workflow
    errors: list[FieldError] = []
    for stage, count in sorted(in_removed.items()):
        if stage not in mapping:
            errors.append(
                FieldError(
                    f"stage_mapping.{stage}",
                    "stage_in_use",
                    translate("stage_in_use", lang, count=count, stage=stage),
                    {"count": count},
                )
            )
    for stage, target in sorted(mapping.items()):
        if stage not in in_removed:
            errors.append(
                FieldError(
                    f"stage_mapping.{stage}",
                    "stage_mapping_not_removed",
                    translate("stage_mapping_not_removed", lang, stage=stage),
                )
            )
        elif wf is None or wf.stage(target) is None:
            errors.append(
                FieldError(
                    f"stage_mapping.{stage}",
                    "stage_mapping_unknown_target",
                    translate("stage_mapping_unknown_target", lang, stage=target),
                )
            )
    if errors:
        raise StageMappingError(errors)
    return {stage: mapping[stage] for stage in in_removed}
