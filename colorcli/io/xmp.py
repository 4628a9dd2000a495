"""The XMP packet every output carries: its colours are a machine's estimate, of which scan, by which model.

A colorized copy that leaves its output folder must still say what it is. XMP is where catalogues,
DAMs, Lightroom, Bridge, digiKam and exiftool look, and IPTC's digital source type is the standard word
for it. The packet says:

- Iptc4xmpExt:DigitalSourceType: IPTC's compositeWithTrainedAlgorithmicMedia (a capture combined with
  content from a trained model), replacing the input's own value, which described the scan;
- xmpMM:DerivedFrom: the input's path relative to its input root (stRef:filePath), its XMP ids when it
  has them (stRef:documentID, stRef:instanceID) and the sha256 of the input file (colorcli:sha256: the
  ResourceRef type has no field for a content hash);
- xmpMM:History: the input's events, then one more (stEvt:action, when, softwareAgent, parameters: the
  model's name and sha256, chroma gain, inference size);
- a sentence for people in dc:description, or in photoshop:Instructions when the input has a
  description of its own (left as it is);
- new xmpMM:DocumentID and InstanceID (the input's become xmpMM:OriginalDocumentID and DerivedFrom's),
  so no catalogue takes the colour copy for the scan itself.

Everything else in the input's packet is kept, except the few properties that describe the grey file's
structure and would be false of a colour one (_STALE). Names and namespaces are the ones the XMP
specification (Adobe, parts 1 and 2: xmpMM, stRef ResourceRef, stEvt ResourceEvent) and the IPTC Photo
Metadata Standard define. An input packet that cannot be parsed is replaced by a fresh one, and the
report says why. Packets are parsed and serialized with xml.etree; only the xpacket wrapper around the
XML is written by hand (ElementTree writes no processing instructions outside the root element).
"""

from __future__ import annotations

import io
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone

from colorcli.io.walk import printable_name

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"

# colorcli's own namespace, for the one field no standard type has: the input file's sha256 in DerivedFrom.
COLORCLI_NS = "urn:colorcli:xmp:1.0#"

NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stRef": "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "xmpNote": "http://ns.adobe.com/xmp/note/",
    "colorcli": COLORCLI_NS,
}
_TOOLKIT = "{adobe:ns:meta/}xmptk"
for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Formats with a place for XMP, and the most a packet may take there (JPEG: one APP1 segment).
CAPACITY = {"JPEG": 65504, "PNG": None, "TIFF": None, "WEBP": None, "JPEG2000": None}
NO_PLACE = {"BMP": "BMP has no place for XMP",
            "J2K": "a bare JPEG 2000 codestream (.j2k) has no place for XMP"}

# Properties of the input's packet that describe the grey file's structure and would be false of the
# colour output, or point at parts of the input file that are not carried over (extended XMP).
_STALE = ("photoshop:ColorMode", "tiff:PhotometricInterpretation", "tiff:SamplesPerPixel",
          "tiff:BitsPerSample", "xmpNote:HasExtendedXMP")
# Properties colorcli sets: the input's values are replaced.
_REPLACED = ("Iptc4xmpExt:DigitalSourceType", "xmpMM:DerivedFrom", "xmpMM:DocumentID", "xmpMM:InstanceID")

_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"  # the fixed id the XMP specification gives every packet wrapper
_PADDING = (" " * 99 + "\n") * 20  # 2 KB, as the specification advises, for editing in place


class UnreadableXMP(ValueError):
    """An input's XMP that cannot be parsed or is not XMP; the message says why, in one line."""


@dataclass(frozen=True)
class Provenance:
    """What the parent process knows of the run, sent to the workers with each file."""

    software: str  # "colorcli 0.1.0"
    model: str  # the model's name (its file name without .onnx)
    model_sha256: str
    chroma_gain: float
    size: int  # inference size, pixels
    strength: float = 1.0  # the user's --strength: a factor on the model's chroma

    def sentence(self) -> str:
        return (f"Colours estimated by {self.software} (model {self.model}, sha256 {self.model_sha256[:12]}…) "
                f"from the lightness of the original alone; not a record of the real colours.")

    def parameters(self) -> str:
        return (f"colorized: model {self.model} (sha256 {self.model_sha256}), chroma gain {self.chroma_gain:g}, "
                f"strength {self.strength:g}, inference size {self.size} px")


def _q(name: str) -> str:
    """'dc:title' -> '{http://purl.org/dc/elements/1.1/}title' (ElementTree's qualified name)."""
    prefix, local = name.split(":")
    return f"{{{NAMESPACES[prefix]}}}{local}"


def for_output(input_xmp: bytes | None, fmt: str, provenance: Provenance, source_name: str,
               source_sha256: str | None, embed: bool = True, when: datetime | None = None
               ) -> tuple[bytes | None, dict]:
    """The XMP to write into an output of format FMT, and the report's account of it.

    The account: written (whether the output says it was colorized by colorcli), input_xmp (what
    became of the input's own packet: kept, absent or dropped) and reason (why not written, or why
    dropped). With embed False the input's packet is written unchanged.
    """
    had = bool(input_xmp)
    if fmt in NO_PLACE:
        return None, {"written": False, "input_xmp": "dropped" if had else "absent", "reason": NO_PLACE[fmt]}
    capacity = CAPACITY.get(fmt)
    if not embed:
        if had and capacity is not None and len(input_xmp) > capacity:
            return None, {"written": False, "input_xmp": "dropped",
                          "reason": f"--no-provenance; the input's XMP ({len(input_xmp)} bytes) does not fit in "
                                    f"one {fmt} XMP segment ({capacity} bytes)"}
        return input_xmp or None, {"written": False, "input_xmp": "kept" if had else "absent",
                                   "reason": "--no-provenance"}
    when = when or datetime.now(timezone.utc)
    reason = None
    if had:
        try:
            packet = derived_packet(input_xmp, provenance, source_name, source_sha256, when, capacity)
        except UnreadableXMP as error:
            reason = f"the input's XMP could not be read ({error}); a fresh packet was written"
        else:
            if packet is not None:
                return packet, {"written": True, "input_xmp": "kept", "reason": None}
            reason = (f"the input's XMP ({len(input_xmp)} bytes) and colorcli's do not fit together in one "
                      f"{fmt} XMP segment ({capacity} bytes); a fresh packet was written")
    packet = derived_packet(None, provenance, source_name, source_sha256, when, capacity)
    return packet, {"written": True, "input_xmp": "dropped" if had else "absent", "reason": reason}


def derived_packet(input_xmp: bytes | None, provenance: Provenance, source_name: str,
                   source_sha256: str | None, when: datetime, capacity: int | None = None) -> bytes | None:
    """The input's packet (or a fresh one) extended with the provenance statement, as a serialized
    packet; None if it does not fit in CAPACITY bytes. Raises UnreadableXMP for an input packet that
    is not XMP."""
    root, prefixes = parse(input_xmp) if input_xmp else (_fresh(), {})
    rdf = _rdf(root)
    descriptions = rdf.findall(_q("rdf:Description"))
    about = descriptions[0].get(_q("rdf:about"), "") if descriptions else ""
    input_ids = {name: _simple_value(rdf, f"xmpMM:{name}") for name in ("DocumentID", "InstanceID",
                                                                         "OriginalDocumentID")}
    for name in _STALE + _REPLACED:
        _remove(rdf, name)
    root.attrib.pop(_TOOLKIT, None)  # names the toolkit that wrote the packet, which is no longer so
    ours = ET.SubElement(rdf, _q("rdf:Description"), {_q("rdf:about"): about})
    _text(ours, "Iptc4xmpExt:DigitalSourceType", DIGITAL_SOURCE_TYPE)

    derived = _struct(ours, "xmpMM:DerivedFrom")
    _text(derived, "stRef:filePath", printable_name(source_name))
    for name in ("DocumentID", "InstanceID"):
        if input_ids[name]:
            _text(derived, f"stRef:{name[0].lower()}{name[1:]}", input_ids[name])
    if source_sha256:
        _text(derived, "colorcli:sha256", source_sha256)

    instance = f"xmp.iid:{uuid.uuid4()}"
    _text(ours, "xmpMM:DocumentID", f"xmp.did:{uuid.uuid4()}")
    _text(ours, "xmpMM:InstanceID", instance)
    if input_ids["DocumentID"] and not input_ids["OriginalDocumentID"]:
        _text(ours, "xmpMM:OriginalDocumentID", input_ids["DocumentID"])

    event = _struct(ET.SubElement(_history(rdf, ours), _q("rdf:li")))
    _text(event, "stEvt:action", "edited")
    _text(event, "stEvt:instanceID", instance)
    _text(event, "stEvt:when", when.isoformat(timespec="seconds"))
    _text(event, "stEvt:softwareAgent", provenance.software)
    _text(event, "stEvt:parameters", provenance.parameters())

    if not _present(rdf, "dc:description"):
        alt = ET.SubElement(ET.SubElement(ours, _q("dc:description")), _q("rdf:Alt"))
        ET.SubElement(alt, _q("rdf:li"), {_XML_LANG: "x-default"}).text = provenance.sentence()
    elif not _present(rdf, "photoshop:Instructions"):
        _text(ours, "photoshop:Instructions", provenance.sentence())

    ET.indent(ours, space=" ", level=1)
    for padding in (_PADDING, "\n"):
        packet = serialize(root, prefixes, padding)
        if capacity is None or len(packet) <= capacity:
            return packet
    return None


def parse(packet: bytes) -> tuple[ET.Element, dict[str, str]]:
    """An XMP packet's root element (x:xmpmeta, or rdf:RDF in old packets) and the namespace prefixes
    it declares; raises UnreadableXMP."""
    data = packet.rstrip(b"\x00 \t\r\n")
    if re.search(rb"<!(DOCTYPE|ENTITY)", data):  # XMP has no DTD; an entity could expand without bound
        raise UnreadableXMP("it declares a DTD or entities, which XMP does not allow")
    prefixes: dict[str, str] = {}
    root = None
    try:
        for event, item in ET.iterparse(io.BytesIO(data), events=("start-ns", "start")):
            if event == "start-ns":
                prefixes.setdefault(*item)
            elif root is None:
                root = item
    except ET.ParseError as error:
        raise UnreadableXMP(f"not well-formed XML: {error}") from None
    if root is None or _rdf(root, required=False) is None:
        raise UnreadableXMP("no rdf:RDF element")
    return root, prefixes


def serialize(root: ET.Element, prefixes: dict[str, str] | None = None, padding: str = _PADDING) -> bytes:
    """An x:xmpmeta element as a UTF-8 XMP packet: xpacket wrapper, padding for editing in place."""
    for prefix, uri in (prefixes or {}).items():  # the input's own prefixes for its own namespaces
        if prefix and prefix not in NAMESPACES and uri not in NAMESPACES.values():
            try:
                ET.register_namespace(prefix, uri)
            except ValueError:  # a prefix ElementTree reserves (ns0, ...): it names one itself
                pass
    if root.tag == _q("rdf:RDF"):
        wrapper = ET.Element(_q("x:xmpmeta"))
        wrapper.append(root)
        root = wrapper
    body = ET.tostring(root, encoding="unicode")
    return (f'<?xpacket begin="\ufeff" id="{_PACKET_ID}"?>\n{body}\n{padding}<?xpacket end="w"?>').encode("utf-8")


def _fresh() -> ET.Element:
    root = ET.Element(_q("x:xmpmeta"))
    ET.SubElement(root, _q("rdf:RDF"))
    return root


def _rdf(root: ET.Element, required: bool = True) -> ET.Element | None:
    rdf = root if root.tag == _q("rdf:RDF") else root.find(_q("rdf:RDF"))
    if rdf is None and required:
        raise UnreadableXMP("no rdf:RDF element")
    return rdf


def _present(rdf: ET.Element, name: str) -> bool:
    qname = _q(name)
    return any(d.find(qname) is not None or qname in d.attrib for d in rdf.findall(_q("rdf:Description")))


def _simple_value(rdf: ET.Element, name: str) -> str | None:
    """A simple property's value, written as an element or as an attribute of rdf:Description."""
    qname = _q(name)
    for description in rdf.findall(_q("rdf:Description")):
        if qname in description.attrib:
            return description.attrib[qname]
        element = description.find(qname)
        if element is not None and (element.text or "").strip():
            return element.text.strip()
    return None


def _remove(rdf: ET.Element, name: str) -> None:
    qname = _q(name)
    for description in rdf.findall(_q("rdf:Description")):
        description.attrib.pop(qname, None)
        for element in description.findall(qname):
            description.remove(element)


def _history(rdf: ET.Element, ours: ET.Element) -> ET.Element:
    """The rdf:Seq of the input's xmpMM:History, or a new one in OURS. A History that is not an
    ordered array (a Bag, by mistake) becomes one, its events kept in the order written."""
    for description in rdf.findall(_q("rdf:Description")):
        description.attrib.pop(_q("xmpMM:History"), None)  # an array cannot be an attribute: not XMP
    for description in rdf.findall(_q("rdf:Description")):
        history = description.find(_q("xmpMM:History"))
        if history is None:
            continue
        container = history.find(_q("rdf:Seq"))
        if container is None:
            container = history.find(_q("rdf:Bag"))
            if container is None:
                description.remove(history)  # not an array at all: nothing in it can be kept as events
                break
            container.tag = _q("rdf:Seq")
        return container
    return ET.SubElement(ET.SubElement(ours, _q("xmpMM:History")), _q("rdf:Seq"))


def _struct(parent: ET.Element, name: str | None = None) -> ET.Element:
    """A structure value: rdf:parseType="Resource" on the property element (or on PARENT itself)."""
    element = parent if name is None else ET.SubElement(parent, _q(name))
    element.set(_q("rdf:parseType"), "Resource")
    return element


def _text(parent: ET.Element, name: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, _q(name))
    element.text = value
    return element
