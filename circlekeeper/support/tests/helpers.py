"""Shared by the support tests: a pod member's fields with sensible defaults, and adding one through the service."""

from circlekeeper.support import services


def fields(**kwargs):
    kwargs.setdefault("side", "survivor")
    kwargs.setdefault("label", "" if kwargs.get("participant") else "Aunt R")
    kwargs.setdefault("relationship", "her aunt")
    kwargs.setdefault("stance", "ally")
    kwargs.setdefault("help", ["safe_place"])
    return services.MemberFields(**kwargs)


def add(case, by, **kwargs):
    at = kwargs.pop("at", None)
    return services.add_member(case=case, fields=fields(**kwargs), by=by, at=at)


def change(member, by, **kwargs):
    """Change a member from what it holds now, with these fields changed."""
    current = {
        "side": member.side,
        "label": member.label,
        "relationship": member.relationship,
        "stance": member.stance,
        "help": list(member.help),
        "active": member.active,
        "both_reason": member.both_reason or "",
        "participant": member.participant,
    }
    version = kwargs.pop("version", member.version)
    at = kwargs.pop("at", None)
    return services.change_member(
        member=member, version=version, fields=services.MemberFields(**{**current, **kwargs}), by=by, at=at
    )
