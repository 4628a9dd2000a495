"""Every colorize output's XMP says its colours are colorcli's estimate, of which input and by which model;
the input's own XMP is kept; the pixels are those written without it; the input is hashed as it is read.

The outputs are read back with exiftool (CI installs Debian's libimage-exiftool-perl) and, so that the
packet is also checked where exiftool is absent, parsed with xml.etree."""

import hashlib
import json
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

from colorcli.io import hashing
from colorcli.io import xmp
from colorcli.cli import cli
from colorcli.io.images import ScanImage, read_image, write_image
from conftest import gradient_gray

NS = xmp.NAMESPACES
TITLE, RIGHTS = "Harbour, 1931", "© Town Archive; reuse on request"
PROVENANCE = xmp.Provenance(software="colorcli 9.9.9", model="tiny", model_sha256="ab" * 32, chroma_gain=1.25,
                            size=64)
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _props(packet: bytes, name: str) -> list[ET.Element]:
    root = ET.fromstring(packet.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])
    return [e for d in root.iter(_q("rdf:Description")) for e in d.findall(_q(name))]


def _exiftool(*paths: Path) -> dict[str, dict]:
    run = subprocess.run(["exiftool", "-j", "-struct", "-XMP:all", *map(str, paths)], capture_output=True,
                         text=True, check=True)
    return {Path(entry["SourceFile"]).name: entry for entry in json.loads(run.stdout)}


def _cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


# --- the packet, parsed in Python ---------------------------------------------------------------------

INPUT_PACKET = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Scanner XMP Core 1.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmpMM:DocumentID="xmp.did:scan-1" xmpMM:InstanceID="xmp.iid:scan-1-a" photoshop:ColorMode="1">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{TITLE}</rdf:li></rdf:Alt></dc:title>
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{RIGHTS}</rdf:li></rdf:Alt></dc:rights>
   <dc:creator><rdf:Seq><rdf:li>A. Photographer</rdf:li></rdf:Seq></dc:creator>
   <dc:subject><rdf:Bag><rdf:li>harbour</rdf:li><rdf:li>boats</rdf:li></rdf:Bag></dc:subject>
   <dc:identifier>TA-1931-0042</dc:identifier>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>places|harbour</rdf:li></rdf:Bag></lr:hierarchicalSubject>
   <Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/print</Iptc4xmpExt:DigitalSourceType>
   <xmpMM:History><rdf:Seq><rdf:li rdf:parseType="Resource"><stEvt:action>created</stEvt:action>
    <stEvt:when>2019-05-06T07:08:09Z</stEvt:when></rdf:li></rdf:Seq></xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def test_packet_extends_the_inputs_xmp_and_parses_in_python():
    packet, account = xmp.for_output(INPUT_PACKET, "TIFF", PROVENANCE, "box 3/scan 42.tif", "cd" * 32, when=WHEN)
    assert account == {"written": True, "input_xmp": "kept", "reason": None}
    assert packet.startswith('<?xpacket begin="\ufeff"'.encode()) and packet.rstrip().endswith(b'<?xpacket end="w"?>')
    text = packet.decode("utf-8")
    # the input's own properties, its namespaces' prefixes too
    for kept in (TITLE, RIGHTS, "A. Photographer", "harbour", "boats", "TA-1931-0042", "lr:hierarchicalSubject"):
        assert kept in text, kept
    assert "Scanner XMP Core" not in text  # x:xmptk named the toolkit that wrote the input's packet
    assert not _props(packet, "photoshop:ColorMode")  # grey: false of the colour output
    (source_type,) = _props(packet, "Iptc4xmpExt:DigitalSourceType")  # the input's ("print") replaced
    assert source_type.text == xmp.DIGITAL_SOURCE_TYPE
    (derived,) = _props(packet, "xmpMM:DerivedFrom")
    assert derived.get(_q("rdf:parseType")) == "Resource"
    assert {child.tag: child.text for child in derived} == {
        _q("stRef:filePath"): "box 3/scan 42.tif", _q("stRef:documentID"): "xmp.did:scan-1",
        _q("stRef:instanceID"): "xmp.iid:scan-1-a", _q("colorcli:sha256"): "cd" * 32}
    (document,), (instance,), (original,) = (_props(packet, f"xmpMM:{n}") for n in
                                             ("DocumentID", "InstanceID", "OriginalDocumentID"))
    assert document.text.startswith("xmp.did:") and document.text != "xmp.did:scan-1"
    assert original.text == "xmp.did:scan-1"
    (history,) = _props(packet, "xmpMM:History")
    events = history.find(_q("rdf:Seq")).findall(_q("rdf:li"))
    assert len(events) == 2 and events[0].find(_q("stEvt:action")).text == "created"
    ours = {child.tag.split("}")[1]: child.text for child in events[1]}
    assert ours == {"action": "edited", "instanceID": instance.text, "when": "2026-01-02T03:04:05+00:00",
                    "softwareAgent": "colorcli 9.9.9",
                    "parameters": f"colorized: model tiny (sha256 {'ab' * 32}), chroma gain 1.25, strength 1, "
                                  "inference size 64 px"}
    (description,) = _props(packet, "dc:description")
    assert "Colours estimated by colorcli 9.9.9 (model tiny" in description.find(_q("rdf:Alt"))[0].text


def test_an_inputs_description_is_left_as_it_is_and_the_sentence_goes_to_instructions():
    described = INPUT_PACKET.replace(b"<dc:identifier>", b'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
                                                        b"Boats at the quay</rdf:li></rdf:Alt></dc:description>"
                                                        b"<dc:identifier>")
    packet, _ = xmp.for_output(described, "PNG", PROVENANCE, "a.png", "cd" * 32, when=WHEN)
    (description,) = _props(packet, "dc:description")
    assert description.find(_q("rdf:Alt"))[0].text == "Boats at the quay"
    (instructions,) = _props(packet, "photoshop:Instructions")
    assert instructions.text == PROVENANCE.sentence()


@pytest.mark.parametrize("bad, why", [
    (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><broken", "not well-formed XML"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>', "DTD"),
    (b"<html><body>not XMP</body></html>", "no rdf:RDF"),
])
def test_unreadable_input_xmp_gets_a_fresh_packet_and_a_reason(bad, why):
    packet, account = xmp.for_output(bad, "JPEG", PROVENANCE, "a.jpg", "cd" * 32, when=WHEN)
    assert account["written"] is True and account["input_xmp"] == "dropped"
    assert why in account["reason"] and "fresh packet" in account["reason"] and "\n" not in account["reason"]
    (source_type,) = _props(packet, "Iptc4xmpExt:DigitalSourceType")
    assert source_type.text == xmp.DIGITAL_SOURCE_TYPE


def test_a_packet_too_large_for_a_jpeg_segment_leaves_the_inputs_out_and_says_so():
    long = INPUT_PACKET.replace(b"TA-1931-0042", b"x" * 64000)
    packet, account = xmp.for_output(long, "JPEG", PROVENANCE, "a.jpg", "cd" * 32, when=WHEN)
    assert len(packet) <= xmp.CAPACITY["JPEG"] and b"x" * 1000 not in packet
    assert account["input_xmp"] == "dropped" and "do not fit" in account["reason"]
    packet, account = xmp.for_output(long, "TIFF", PROVENANCE, "a.tif", "cd" * 32, when=WHEN)
    assert account["input_xmp"] == "kept" and b"x" * 64000 in packet  # TIFF takes any size
    packet, account = xmp.for_output(long, "JPEG", PROVENANCE, "a.jpg", "cd" * 32, embed=False)
    assert packet is None and account["input_xmp"] == "dropped" and "does not fit" in account["reason"]


def test_formats_without_a_place_for_xmp_and_the_opt_out_are_accounted_for():
    assert xmp.for_output(INPUT_PACKET, "BMP", PROVENANCE, "a.bmp", "cd" * 32) == (
        None, {"written": False, "input_xmp": "dropped", "reason": "BMP has no place for XMP"})
    assert xmp.for_output(INPUT_PACKET, "PNG", PROVENANCE, "a.png", "cd" * 32, embed=False) == (
        INPUT_PACKET, {"written": False, "input_xmp": "kept", "reason": "--no-provenance"})


# --- every output format, read with exiftool ------------------------------------------------------------

FORMATS = ["scan.jpg", "scan.png", "scan16.png", "scan.tif", "scan16.tif", "scan.jp2", "scan16.jp2", "scan.webp"]


def _grey_inputs(folder: Path) -> None:
    """A grey scan in every format colorcli writes XMP into, each with a title and rights set by exiftool;
    a BMP (no place for XMP) and a bare codestream beside them; a JPEG whose XMP is malformed."""
    folder.mkdir(parents=True)
    grey8, grey16 = gradient_gray(48, 64), gradient_gray(48, 64, np.uint16)
    Image.fromarray(grey8).save(folder / "scan.jpg", quality=95)
    Image.fromarray(grey8).save(folder / "scan.png")
    Image.fromarray(grey16).save(folder / "scan16.png")
    Image.fromarray(grey8).save(folder / "scan.tif")
    tifffile.imwrite(folder / "scan16.tif", grey16, compression="zlib")
    Image.fromarray(grey8).save(folder / "scan.jp2")
    Image.fromarray(grey16).save(folder / "scan16.jp2")
    Image.fromarray(grey8).save(folder / "scan.webp", lossless=True)
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Title={TITLE}", f"-XMP-dc:Rights={RIGHTS}",
                    *[str(folder / name) for name in FORMATS]], check=True)
    Image.fromarray(grey8).save(folder / "plain.bmp")
    Image.fromarray(grey8).save(folder / "bare.j2k")
    Image.fromarray(grey8).save(folder / "malformed.jpg", quality=95,
                                xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><dc:title>unclosed")


@pytest.fixture(scope="module")
def colorized(tmp_path_factory, tiny_model_path):
    """The same grey inputs colorized twice: as usual, and with --no-provenance."""
    root = tmp_path_factory.mktemp("provenance")
    _grey_inputs(root / "in" / "box 1")
    runs = {}
    for name, extra in (("with", []), ("without", ["--no-provenance"])):
        code, output = _cli("colorize", root / "in", "--out", root / name, "--model", tiny_model_path, *extra)
        report = json.loads((root / name / "colorcli-report.json").read_text())
        runs[name] = (root / name, {Path(r["output"]).name: r for r in report["files"]}, report, code, output)
    return root, runs


def test_every_format_says_what_it_is_from_what_and_by_what(colorized, tiny_model_path):
    root, runs = colorized
    out, records, report, code, output = runs["with"]
    assert code == 0 and "Traceback" not in output, output
    model_sha256 = _sha256(tiny_model_path)
    assert report["model"]["sha256"] == model_sha256 and report["options"]["provenance"] is True
    found = _exiftool(*[out / "box 1" / name for name in FORMATS])
    for name in FORMATS:
        tags, record, source = found[name], records[name], root / "in" / "box 1" / name
        assert tags["DigitalSourceType"] == xmp.DIGITAL_SOURCE_TYPE, name
        assert tags["DerivedFrom"] == {"FilePath": f"box 1/{name}", "Sha256": _sha256(source)}, name
        (event,) = tags["History"]
        assert event["Action"] == "edited" and event["SoftwareAgent"].startswith("colorcli "), name
        assert model_sha256 in event["Parameters"] and "inference size 64 px" in event["Parameters"], name
        assert tags["Title"] == TITLE and tags["Rights"] == RIGHTS, name
        assert tags["Description"].startswith("Colours estimated by colorcli"), name
        assert record["input_sha256"] == _sha256(source) and record["model_sha256"] == model_sha256, name
        assert record["xmp"] == {"written": True, "input_xmp": "kept", "reason": None}, name
    assert read_image(out / "box 1" / "scan16.tif").pixels.dtype == np.uint16  # the banded 16-bit writer
    assert read_image(out / "box 1" / "scan16.jp2").pixels.dtype == np.uint16


def test_outputs_without_a_place_for_xmp_say_so_in_the_report(colorized):
    _, runs = colorized
    _, records, _, _, _ = runs["with"]
    assert records["plain.bmp"]["status"] == "ok" and records["plain.bmp"]["xmp"] == {
        "written": False, "input_xmp": "absent", "reason": "BMP has no place for XMP"}
    assert records["bare.j2k"]["xmp"]["written"] is False and ".j2k" in records["bare.j2k"]["xmp"]["reason"]


def test_malformed_input_xmp_still_gives_an_output_with_a_fresh_packet(colorized):
    root, runs = colorized
    out, records, _, code, output = runs["with"]
    record = records["malformed.jpg"]
    assert code == 0 and "Traceback" not in output and record["status"] == "ok"
    assert record["xmp"]["written"] is True and record["xmp"]["input_xmp"] == "dropped"
    assert "not well-formed XML" in record["xmp"]["reason"]
    tags = _exiftool(out / "box 1" / "malformed.jpg")["malformed.jpg"]
    assert tags["DigitalSourceType"] == xmp.DIGITAL_SOURCE_TYPE
    assert tags["DerivedFrom"]["Sha256"] == _sha256(root / "in" / "box 1" / "malformed.jpg")


def test_the_xmp_changes_no_pixel(colorized):
    """The outputs decode to the same pixels with and without the packet (JPEG and PNG: the same bytes
    but for the XMP segment or chunk); --no-provenance keeps the input's own XMP as it was."""
    root, runs = colorized
    with_, without = runs["with"][0] / "box 1", runs["without"][0] / "box 1"
    assert runs["without"][3] == 0
    for path in sorted(with_.iterdir()):
        a, b = read_image(path), read_image(without / path.name)
        assert np.array_equal(a.pixels, b.pixels) and a.pixels.dtype == b.pixels.dtype, path.name
    assert _without_jpeg_xmp((with_ / "scan.jpg").read_bytes()) == _without_jpeg_xmp((without / "scan.jpg").read_bytes())
    found = _exiftool(*[without / name for name in FORMATS])
    for name in FORMATS:
        assert found[name]["Title"] == TITLE and "DigitalSourceType" not in found[name], name
        assert runs["without"][1][name]["xmp"] == {"written": False, "input_xmp": "kept", "reason": "--no-provenance"}


def _without_jpeg_xmp(data: bytes) -> bytes:
    """A JPEG's bytes less its XMP APP1 segment."""
    start = data.find(b"\xff\xe1", 2)
    while start >= 0 and data[start + 4: start + 33] != b"http://ns.adobe.com/xap/1.0/\x00":
        start = data.find(b"\xff\xe1", start + 2)
    assert start >= 0
    length = int.from_bytes(data[start + 2: start + 4], "big")
    return data[:start] + data[start + 2 + length:]


@pytest.mark.parametrize("name", ["a.jpg", "a.png", "a16.png", "a.tif", "a16.tif", "a.webp", "a.jp2", "a16.jp2"])
def test_writers_change_no_pixel_for_the_packet(tmp_path, name):
    dtype = np.uint16 if "16" in name else np.uint8
    rgb = np.random.default_rng(7).integers(0, np.iinfo(dtype).max, (40, 56, 3), dtype=dtype)
    packet, _ = xmp.for_output(None, "JPEG", PROVENANCE, name, "cd" * 32, when=WHEN)
    write_image(tmp_path / "plain" / name, rgb, ScanImage(pixels=rgb[..., 0]))
    write_image(tmp_path / "xmp" / name, rgb, ScanImage(pixels=rgb[..., 0], xmp=packet))
    plain, stamped = read_image(tmp_path / "plain" / name), read_image(tmp_path / "xmp" / name)
    assert np.array_equal(plain.pixels, stamped.pixels)
    assert plain.xmp is None and stamped.xmp == packet  # and read back as written


# --- hashing what is read --------------------------------------------------------------------------------


def test_inputs_are_hashed_from_the_bytes_read_for_decoding(tmp_path, monkeypatch):
    """read_image's sha256 is the file's, and a large master is read once, not a second time to hash it."""
    from test_imageio import make_scans

    make_scans(tmp_path)
    master = np.random.default_rng(1).integers(0, 65536, (1200, 900), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "master.tif", master, compression="zlib")
    Image.fromarray((master >> 8).astype(np.uint8)).save(tmp_path / "master.jpg", quality=90)
    Image.fromarray((master >> 8).astype(np.uint8)).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    Image.fromarray(master).save(tmp_path / "master.jp2")
    read = []
    opened = hashing.HashingReader.__init__

    def counting(self, path):
        opened(self, path)
        raw = self._file

        class Counted:
            def __getattr__(self, attribute):
                return getattr(raw, attribute)

            def read(self, *args):
                data = raw.read(*args)
                read[-1] += len(data)
                return data

            def readinto(self, buffer):
                count = raw.readinto(buffer)
                read[-1] += count
                return count

        read.append(0)
        self._file = Counted()

    monkeypatch.setattr(hashing.HashingReader, "__init__", counting)
    for path in sorted(tmp_path.iterdir()):
        assert read_image(path).sha256 == _sha256(path), path.name
        if path.stem in ("master", "lzw"):
            assert read[-1] <= path.stat().st_size + 4096, path.name  # once, and a header read again
