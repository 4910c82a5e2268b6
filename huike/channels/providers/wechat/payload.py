"""Reading the XML WeChat and WeCom post: flat `<xml><Field>value</Field>…</xml>` documents.

defusedxml refuses DTDs and entity declarations outright, so a callback cannot expand
entities or reach for external resources (billion laughs, XXE).
"""

import datetime as dt
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


def parse_xml(body: bytes) -> dict[str, str]:
    """The root's child elements by tag, text stripped; ValueError for anything that is not a
    WeChat XML document."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as error:
        raise ValueError(f"the body is not acceptable XML: {error}") from error
    if root.tag != "xml":
        raise ValueError(f"the XML root is <{root.tag}>, not <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


def created_at(fields: dict[str, str]) -> dt.datetime:
    """`CreateTime` (unix seconds) as an aware UTC datetime."""
    try:
        return dt.datetime.fromtimestamp(int(fields.get("CreateTime", "")), tz=dt.UTC)
    except (ValueError, OverflowError, OSError) as error:
        raise ValueError("CreateTime is missing or not a unix time") from error
