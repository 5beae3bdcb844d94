"""Prices the cost audit uses for one target and region, each with where it came from.

A ``RegionPrices`` is filled from the Price List Query API and ec2:DescribeSpotPriceHistory (``readers/prices.py``)
or, for what the API did not answer or refused, from the dated snapshot in ``include/cost/prices.yaml``. A price
nobody could give stays absent: the part it prices is reported as not priced, never as $0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: Units prices are kept in.
PER_HOUR, PER_GB_MONTH, PER_VCPU_HOUR, PER_GB_HOUR = "hour", "GB-month", "vCPU-hour", "GB-hour"


@dataclass(frozen=True)
class Price:
    """US dollars per ``unit``; ``source`` says where the figure came from (API endpoint and date, or the
    snapshot's date and the page it was read from)."""

    usd: Decimal
    unit: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return {"usd": str(self.usd), "unit": self.unit, "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Price:
        return cls(Decimal(data["usd"]), data["unit"], data["source"])


@dataclass
class RegionPrices:
    """Every price one region's clusters need, as one target's connection could read them.

    :param on_demand: instance type → per hour (Linux, shared tenancy, no pre-installed software).
    :param spot: instance type → availability zone → per hour (the latest DescribeSpotPriceHistory entry).
    :param ebs: EBS volume type (gp2, gp3, io1, ...) → per GB-month.
    :param fargate: ``vcpu`` → per vCPU-hour, ``memory`` → per GB-hour (Linux/x86).
    :param control_plane: ``standard`` → per cluster-hour; ``extended`` → the surcharge per cluster-hour on top
        of it in extended support; provisioned control-plane tiers (``tier-xl`` ...) → per hour.
    :param auto_mode: instance type → EKS Auto Mode's management fee per hour.
    :param load_balancer: ``application`` | ``network`` | ``gateway`` | ``classic`` → per hour.
    :param notes: what a reader must know about these prices (the API refused, the snapshot's date).
    """

    aws_conn_id: str
    region: str
    on_demand: dict[str, Price] = field(default_factory=dict)
    spot: dict[str, dict[str, Price]] = field(default_factory=dict)
    ebs: dict[str, Price] = field(default_factory=dict)
    fargate: dict[str, Price] = field(default_factory=dict)
    control_plane: dict[str, Price] = field(default_factory=dict)
    auto_mode: dict[str, Price] = field(default_factory=dict)
    load_balancer: dict[str, Price] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        flat = ("on_demand", "ebs", "fargate", "control_plane", "auto_mode", "load_balancer")
        return {
            "aws_conn_id": self.aws_conn_id,
            "region": self.region,
            **{name: {key: price.to_dict() for key, price in getattr(self, name).items()} for name in flat},
            "spot": {
                instance_type: {zone: price.to_dict() for zone, price in zones.items()}
                for instance_type, zones in self.spot.items()
            },
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegionPrices:
        """The inverse of ``to_dict``."""
        flat = ("on_demand", "ebs", "fargate", "control_plane", "auto_mode", "load_balancer")
        return cls(
            aws_conn_id=data["aws_conn_id"],
            region=data["region"],
            **{name: {key: Price.from_dict(value) for key, value in data.get(name, {}).items()} for name in flat},
            spot={
                instance_type: {zone: Price.from_dict(value) for zone, value in zones.items()}
                for instance_type, zones in data.get("spot", {}).items()
            },
            notes=list(data.get("notes", [])),
        )
