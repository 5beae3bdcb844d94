"""AWS prices as a cost runbook reads them: the Price List Query API and EC2's spot price history.

Both answer from the sandbox's price snapshot (``include/sandbox/prices.yaml``), never from the network:

- ``pricing:GetProducts`` (and DescribeServices, GetAttributeValues) as the Price List Query API answers them
  [botocore pricing 2017-10-15]: JSON protocol, target ``AWSPriceListService``, ``PriceList`` a list of JSON
  *strings*, each a product with ``product.attributes`` and ``terms.OnDemand.<sku>.<offer term>.priceDimensions``,
  filters (TERM_MATCH, EQUALS, CONTAINS, ANY_OF, NONE_OF) on any attribute, pages of at most 100. Like the real
  list, an instance type has several SKUs besides the Linux on-demand one (capacity reservations, a Capacity
  Block at $0.00), so a client must filter as eks-node-viewer and Karpenter do (runbook-facts-wave2.md §2).
- ``ec2:DescribeSpotPriceHistory``: one price per instance type and zone of the request's region, in effect since
  the start of the simulated day (moto answers $0.00001 dated 2006 for every offering).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml
from werkzeug.wrappers import Request, Response

#: Where the Price List Query API has endpoints in the aws partition (botocore endpoints.json, ``api.pricing``).
PRICING_REGIONS = frozenset({"us-east-1", "eu-central-1", "ap-south-1"})
#: The Price List's constant codes for an on-demand term and its hourly rate ([OC] ``provider.go``).
ON_DEMAND_OFFER_TERM = "JRTCKXETXF"
PRICE_PER_UNIT_RATE = "6YS6EN2CT7"
#: GetProductsMaxResults / GetAttributeValuesMaxResults: 1..100 [botocore pricing 2017-10-15].
MAX_RESULTS = 100
#: The Linux on-demand SKU and its capacity-reservation twins, as the Price List carries each instance type:
#: (capacitystatus, usage type stem, whether it costs the on-demand price; an allocated reservation is $0.00).
CAPACITY_STATUSES = (("Used", "BoxUsage", True), ("UnusedCapacityReservation", "UnusedBox", True))
ALLOCATED_RESERVATION = ("AllocatedCapacityReservation", "Reservation", False)
#: The product families of instances, as eks-node-viewer queries them (pkg/aws/pricing.go updateOnDemandPricing).
VIRTUAL_FAMILY, BARE_METAL_FAMILY = "Compute Instance", "Compute Instance (bare metal)"
#: What DescribeSpotPriceHistory names a Linux price in a VPC (EC2 API Reference, SpotPrice.ProductDescription).
SPOT_PRODUCT_DESCRIPTION = "Linux/UNIX (Amazon VPC)"
SPOT_DESCRIPTION_MATCHES = frozenset({"Linux/UNIX", SPOT_PRODUCT_DESCRIPTION})


class PricingError(Exception):
    """A Price List Query API client error (HTTP 400), named as the API names it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PriceSnapshot:
    """The products the Price List serves (as dicts, encoded per answer) and the spot sample per region and type."""

    date: str
    products: tuple[dict[str, Any], ...]
    spot: dict[tuple[str, str], str]


@cache
def load_price_snapshot(include_dir: Path) -> PriceSnapshot:
    """Read ``include/sandbox/prices.yaml`` once per process (it does not change while the sandbox runs)."""
    data = yaml.safe_load((include_dir / "sandbox" / "prices.yaml").read_text())
    date = str(data["snapshot_date"])
    products = [*_instance_products(data, date), *_other_products(data, date)]
    spot = {
        (region, instance_type): prices[1]
        for region, entry in data["regions"].items()
        for instance_type, prices in entry["prices"].items()
    }
    return PriceSnapshot(date, tuple(products), spot)


def _instance_products(data: dict[str, Any], date: str) -> Iterator[dict[str, Any]]:
    blocks = {(entry["region"], entry["instance_type"]) for entry in data.get("capacity_block_skus", [])}
    for region, entry in data["regions"].items():
        for instance_type, (on_demand, _spot) in entry["prices"].items():
            shape = data["instance_types"][instance_type]
            family = BARE_METAL_FAMILY if shape.get("bare_metal") else VIRTUAL_FAMILY
            for status, stem, priced in (*CAPACITY_STATUSES, ALLOCATED_RESERVATION):
                attributes = _instance_attributes(region, entry, instance_type, shape, status, stem, "OnDemand")
                yield _product("AmazonEC2", family, attributes, on_demand if priced else "0", "Hrs", date)
            if (region, instance_type) in blocks:
                # The usage type of a Capacity Block SKU is UNCONFIRMED; its $0.00 and marketoption are as recorded.
                attributes = _instance_attributes(region, entry, instance_type, shape, "Used", "CapacityBlock", "")
                attributes["marketoption"] = "CapacityBlock"
                yield _product("AmazonEC2", family, attributes, "0", "Hrs", date)


def _instance_attributes(
    region: str, entry: dict[str, Any], instance_type: str, shape: dict[str, Any], status: str, stem: str, market: str
) -> dict[str, str]:
    return {
        "servicecode": "AmazonEC2",
        "servicename": "Amazon Elastic Compute Cloud",
        "location": entry["location"],
        "locationType": "AWS Region",
        "regionCode": region,
        "instanceType": instance_type,
        "instanceFamily": shape["family"],
        "currentGeneration": shape["current_generation"],
        "vcpu": str(shape["vcpu"]),
        "memory": shape["memory"],
        "operatingSystem": "Linux",
        # eks-node-viewer asks for bare metal with tenancy Dedicated (pkg/aws/pricing.go updateOnDemandPricing).
        "tenancy": "Dedicated" if shape.get("bare_metal") else "Shared",
        "preInstalledSw": "NA",
        "licenseModel": "No License required",
        "operation": "RunInstances",
        "capacitystatus": status,
        "usagetype": f"{entry['usage_type_prefix']}{stem}:{instance_type}",
        "marketoption": market or "OnDemand",
    }


def _other_products(data: dict[str, Any], date: str) -> Iterator[dict[str, Any]]:
    locations = {region: entry["location"] for region, entry in data["regions"].items()}
    for entry in data.get("products", []):
        attributes = {
            "servicecode": entry["service_code"],
            "location": locations[entry["region"]],
            "locationType": "AWS Region",
            "regionCode": entry["region"],
            "usagetype": entry["usage_type"],
            **entry["attributes"],
        }
        yield _product(entry["service_code"], entry["family"], attributes, entry["usd"], entry["unit"], date)


def _product(
    service_code: str, family: str, attributes: dict[str, str], usd: str, unit: str, date: str
) -> dict[str, Any]:
    """One Price List item: product, its on-demand term and the term's single price dimension."""
    sku = _sku(service_code, attributes["usagetype"], attributes.get("capacitystatus", ""), attributes["regionCode"])
    term, rate = f"{sku}.{ON_DEMAND_OFFER_TERM}", f"{sku}.{ON_DEMAND_OFFER_TERM}.{PRICE_PER_UNIT_RATE}"
    dimension = {
        "unit": unit,
        "endRange": "Inf",
        "description": f"${usd} per {unit} for {attributes['usagetype']}",
        "appliesTo": [],
        "rateCode": rate,
        "beginRange": "0",
        "pricePerUnit": {"USD": f"{Decimal(usd):.10f}"},
    }
    return {
        "product": {"productFamily": family, "attributes": attributes, "sku": sku},
        "serviceCode": service_code,
        "terms": {
            "OnDemand": {
                term: {
                    "priceDimensions": {rate: dimension},
                    "sku": sku,
                    "effectiveDate": f"{date}T00:00:00Z",
                    "offerTermCode": ON_DEMAND_OFFER_TERM,
                    "termAttributes": {},
                }
            }
        },
        "version": date.replace("-", "") + "000000",
        "publicationDate": f"{date}T00:00:00Z",
    }


def _sku(*parts: str) -> str:
    """A stable 16-character SKU (AWS's are opaque strings of that shape; these are derived, not AWS's)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


# --- the Price List Query API -------------------------------------------------------------------------------------


def _matches(product: dict[str, Any], filters: list[dict[str, str]]) -> bool:
    """Whether a product passes every filter. Field names match whatever their case: eks-node-viewer filters on
    ``serviceCode`` where the attribute is ``servicecode``, and the Price List answers it (pkg/aws/pricing.go)."""
    attributes = {"productFamily": product["product"]["productFamily"], **product["product"]["attributes"]}
    fields = {name.lower(): value for name, value in attributes.items()}
    return all(_filter_matches(fields.get(spec.get("Field", "").lower()), spec) for spec in filters)


def _filter_matches(value: str | None, spec: dict[str, str]) -> bool:
    kind, wanted = spec.get("Type", "TERM_MATCH"), spec.get("Value", "")
    listed = [item.strip() for item in wanted.split(",")]
    if kind == "CONTAINS":
        return value is not None and wanted in value
    if kind == "ANY_OF":
        return value in listed
    if kind == "NONE_OF":
        return value not in listed
    return value == wanted  # TERM_MATCH, EQUALS


def _page(items: list[Any], request: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the token for the next; an unreadable token is the API's own error."""
    limit = request.get("MaxResults") or MAX_RESULTS
    if not 1 <= limit <= MAX_RESULTS:
        raise PricingError("InvalidParameterException", f"MaxResults must be between 1 and {MAX_RESULTS}")
    token = request.get("NextToken")
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError as error:
        raise PricingError("InvalidNextTokenException", "The pagination token is invalid") from error
    end = start + limit
    return items[start:end], base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None


def get_products(snapshot: PriceSnapshot, request: dict[str, Any]) -> dict[str, Any]:
    """GetProducts: the products of a service that match every filter, each encoded as a JSON string."""
    if not request.get("ServiceCode"):
        raise PricingError("InvalidParameterException", "ServiceCode is required")
    matching = [
        product
        for product in snapshot.products
        if product["serviceCode"] == request["ServiceCode"] and _matches(product, request.get("Filters") or [])
    ]
    page, token = _page(matching, request)
    answer: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(item) for item in page]}
    return answer | ({"NextToken": token} if token else {})


def describe_services(snapshot: PriceSnapshot, request: dict[str, Any]) -> dict[str, Any]:
    """DescribeServices: each service code with the attribute names its products carry."""
    names: dict[str, set[str]] = {}
    for product in snapshot.products:
        names.setdefault(product["serviceCode"], set()).update(product["product"]["attributes"])
    wanted = request.get("ServiceCode")
    if wanted and wanted not in names:
        raise PricingError("NotFoundException", f"Service {wanted} not found")
    services = [{"ServiceCode": code, "AttributeNames": sorted(names[code])} for code in sorted(names)]
    page, token = _page([service for service in services if not wanted or service["ServiceCode"] == wanted], request)
    return {"Services": page, "FormatVersion": "aws_v1"} | ({"NextToken": token} if token else {})


def get_attribute_values(snapshot: PriceSnapshot, request: dict[str, Any]) -> dict[str, Any]:
    """GetAttributeValues: the distinct values of one attribute across a service's products."""
    values = {
        product["product"]["attributes"].get(request.get("AttributeName", ""))
        for product in snapshot.products
        if product["serviceCode"] == request.get("ServiceCode")
    }
    page, token = _page(sorted(value for value in values if value is not None), request)
    return {"AttributeValues": [{"Value": value} for value in page]} | ({"NextToken": token} if token else {})


PRICING_OPERATIONS: dict[str, Callable[[PriceSnapshot, dict[str, Any]], dict[str, Any]]] = {
    "GetProducts": get_products,
    "DescribeServices": describe_services,
    "GetAttributeValues": get_attribute_values,
}


def make_pricing_app(snapshot: PriceSnapshot) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The Price List Query API as a WSGI app (awsJson 1.1, ``X-Amz-Target: AWSPriceListService.<operation>``)."""

    @Request.application
    def app(request: Request) -> Response:
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        handler = PRICING_OPERATIONS.get(operation)
        try:
            if handler is None:
                raise PricingError("UnknownOperationException", f"The sandbox does not simulate pricing {operation}")
            body = handler(snapshot, json.loads(request.get_data() or b"{}"))
        except PricingError as error:
            return Response(
                json.dumps({"__type": error.code, "message": str(error)}), 400, content_type=JSON_CONTENT_TYPE
            )
        return Response(json.dumps(body), 200, content_type=JSON_CONTENT_TYPE)

    return app


JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


# --- EC2 DescribeSpotPriceHistory ---------------------------------------------------------------------------------


def spot_price_history(
    snapshot: PriceSnapshot, region: str, zones: list[str], params: dict[str, str], now: datetime
) -> list[dict[str, str]]:
    """The spot prices a DescribeSpotPriceHistory request asks for (its query parameters, one value each).

    Each instance type's sampled price is in effect in every zone of the region since the start of the simulated
    day: a request whose EndTime is earlier, or whose product descriptions name no Linux, gets nothing.
    """
    since = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    wanted = _spot_request(params)
    descriptions = wanted.get("product-description")
    end = params.get("EndTime", "")
    if (descriptions and not descriptions & SPOT_DESCRIPTION_MATCHES) or (end and _parse_time(end) < since):
        return []
    return [
        {
            "AvailabilityZone": zone,
            "InstanceType": instance_type,
            "ProductDescription": SPOT_PRODUCT_DESCRIPTION,
            "SpotPrice": f"{Decimal(price):.6f}",
            "Timestamp": since.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        for (price_region, instance_type), price in sorted(snapshot.spot.items())
        if price_region == region and _allows(wanted, "instance-type", instance_type)
        for zone in zones
        if _allows(wanted, "availability-zone", zone)
    ]


def _spot_request(params: dict[str, str]) -> dict[str, set[str]]:
    """What a request narrows by, as filter name → allowed values: its parameters and its ``Filter.N`` alike
    (EC2 API Reference, DescribeSpotPriceHistory: availability-zone, instance-type, product-description)."""
    wanted: dict[str, set[str]] = {}
    for key, name in params.items():
        if key.startswith("Filter.") and key.endswith(".Name"):
            prefix = key.removesuffix("Name")
            wanted.setdefault(name, set()).update(_numbered(params, f"{prefix}Value"))
    for parameter, name in (("InstanceType", "instance-type"), ("ProductDescription", "product-description")):
        if values := _numbered(params, parameter):
            wanted.setdefault(name, set()).update(values)
    if "AvailabilityZone" in params:
        wanted.setdefault("availability-zone", set()).add(params["AvailabilityZone"])
    return wanted


def _allows(wanted: dict[str, set[str]], name: str, value: str) -> bool:
    return name not in wanted or value in wanted[name]


def _numbered(params: dict[str, str], name: str) -> set[str]:
    """The values of a query list parameter (``InstanceType.1``, ``InstanceType.2`` ...)."""
    return {value for key, value in params.items() if key.startswith(f"{name}.")}


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def spot_price_history_xml(history: list[dict[str, str]]) -> bytes:
    """DescribeSpotPriceHistoryResponse in EC2's query-protocol XML."""
    items = "".join(
        "<item>" + "".join(f"<{_tag(key)}>{escape(value)}</{_tag(key)}>" for key, value in entry.items()) + "</item>"
        for entry in history
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        "<requestId>sandbox-spot-price-history</requestId>"
        f"<spotPriceHistorySet>{items}</spotPriceHistorySet><nextToken></nextToken>"
        "</DescribeSpotPriceHistoryResponse>"
    ).encode()


def _tag(key: str) -> str:
    """EC2's XML names members in lower camel case (``availabilityZone``, ``spotPrice``)."""
    return key[0].lower() + key[1:]
