"""Make and keep the documents a fixed route version carries: sheets, drawings, quantities.

A route version's documents are rendered once, from its one analysis, when the route is
fixed (:func:`render_documents`), stored with their SHA-256 (:func:`store_documents`) and
served from the store ever after (:func:`stored_document`), so adding a city, importing a
layer or upgrading the code never changes what a permit carries. The version's own hash
covers every document's (:func:`manifest`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import pypdf
from matplotlib.figure import Figure
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.models import RouteDocument
from api.services.analysis import AnalysedRoute
from api.services.analysis import data_attribution
from api.services.analysis import quantity_table
from maps import permit
from maps import style
from maps.section_drawing import render_section
from maps.section_drawing import section_svg
from routing.quantities import quantities_frame

__all__ = [
    "PDF",
    "DocumentDraft",
    "SheetTitle",
    "documents_of",
    "manifest",
    "packet_name",
    "render_documents",
    "render_sheets_pdf",
    "section_name",
    "sheet_name",
    "store_documents",
    "stored_document",
]

logger = logging.getLogger(__name__)

PDF = "application/pdf"
SVG = "image/svg+xml"
QUANTITIES_JSON = "quantities.json"
QUANTITIES_CSV = "quantities.csv"


@dataclass(frozen=True)
class SheetTitle:
    """What the sheets' title blocks say about the application and the version."""

    project: str
    application_no: str
    applicant: str
    issued_on: dt.date
    route_version: int | None = None


@dataclass(frozen=True)
class DocumentDraft:
    """A document before it is stored: kind, name, bytes."""

    kind: str
    name: str
    content_type: str
    data: bytes
    permit_type: str | None = None
    edge: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def sheet_name(permit_type: str) -> str:
    return f"sheet-{permit_type}.pdf"


def packet_name() -> str:
    return "packet.pdf"


def section_name(edge: str) -> str:
    return f"section-{edge}.svg"


def render_documents(
    analysed: AnalysedRoute, title: SheetTitle, *, permit_types: Sequence[str]
) -> list[DocumentDraft]:
    """Every document of a route version, rendered from its analysis.

    One sheet PDF per map permit of ``permit_types`` (the four of
    ``maps.style.PERMIT_TYPES``), the packet of all of them, one section drawing (SVG) per
    edge and the quantities as JSON and CSV. The sheets are drawn and written once, as the
    packet; each permit's PDF holds its pages of it (pypdf). No PDF carries a creation
    date or a file id, so the same analysis gives the same bytes.
    """
    types = [p for p in style.PERMIT_TYPES if p in set(permit_types)]
    drafts: list[DocumentDraft] = []
    figures: list[Figure] = []
    pages: dict[str, list[int]] = {}
    for permit_type in types:
        figs = sheet_figures(analysed, title, [permit_type])
        pages[permit_type] = list(range(len(figures), len(figures) + len(figs)))
        figures.extend(figs)
    if figures:
        # one PDF written (embedding the CJK font costs seconds per file), then each
        # permit's pages split from it: the same bytes for the same analysis
        packet = _pdf(figures, title=title.application_no)
        drafts.extend(
            DocumentDraft(
                "sheet",
                sheet_name(permit_type),
                PDF,
                _pages(packet, pages[permit_type], title=f"{title.application_no}-{permit_type}"),
                permit_type=permit_type,
            )
            for permit_type in types
        )
        drafts.append(DocumentDraft("packet", packet_name(), PDF, packet))
    drafts.extend(
        DocumentDraft("section", section_name(s.segment_id), SVG, section_svg(s), edge=s.segment_id)
        for s in analysed.analysis.sections
    )
    drafts.append(
        DocumentDraft(
            "quantities",
            QUANTITIES_JSON,
            "application/json",
            orjson.dumps(analysed.analysis.as_dict(), option=orjson.OPT_SORT_KEYS),
        )
    )
    csv = quantities_frame(analysed.quantities).to_csv(index=False, lineterminator="\n")
    drafts.append(
        DocumentDraft("quantities", QUANTITIES_CSV, "text/csv; charset=utf-8", csv.encode())
    )
    logger.info(
        "route documents: %d sheets, %d drawings, %d bytes in all",
        len(figures),
        len(analysed.analysis.sections),
        sum(len(d.data) for d in drafts),
    )
    return drafts


def sheet_figures(
    analysed: AnalysedRoute, title: SheetTitle, permit_types: Sequence[str]
) -> list[Figure]:
    """The sheets of ``permit_types`` for an analysed route (excavation: its quantities)."""
    attribution = data_attribution(analysed.city)
    if title.route_version is not None:
        attribution += f"; 路由版本 route v{title.route_version}"
    infos = [
        permit.SheetInfo(
            project=title.project,
            application_no=title.application_no,
            permit_type=p,
            applicant=title.applicant,
            issued_on=title.issued_on,
            attribution=attribution,
        )
        for p in permit_types
    ]
    section = analysed.section() if analysed.analysis.sections else None
    return permit.render_permit_packet(
        analysed.frames,
        infos,
        context=analysed.context,
        quantities=quantity_table(analysed.quantities),
        draw_section=None if section is None else (lambda ax: render_section(section, ax=ax)),
    )


def render_sheets_pdf(
    analysed: AnalysedRoute, title: SheetTitle, permit_types: Sequence[str]
) -> bytes:
    """The sheets of ``permit_types`` in one PDF (for routes with no frozen documents)."""
    figs = sheet_figures(analysed, title, permit_types)
    return _pdf(figs, title=title.application_no)


def manifest(drafts: Sequence[DocumentDraft]) -> dict[str, str]:
    """Document name -> SHA-256, the part of a version's hash that covers its documents."""
    return {d.name: d.sha256 for d in sorted(drafts, key=lambda d: d.name)}


def store_documents(
    session: Session, route_version_id: int, drafts: Sequence[DocumentDraft]
) -> list[RouteDocument]:
    """Keep ``drafts`` with the route version (they are frozen: a trigger refuses changes)."""
    rows = [
        RouteDocument(
            route_version_id=route_version_id,
            kind=d.kind,
            name=d.name,
            permit_type=d.permit_type,
            edge=d.edge,
            content_type=d.content_type,
            size_bytes=len(d.data),
            sha256=d.sha256,
            data=d.data,
        )
        for d in drafts
    ]
    session.add_all(rows)
    session.flush()
    return rows


def stored_document(session: Session, route_version_id: int, name: str) -> RouteDocument | None:
    """The frozen document ``name`` of a route version, or None if it has none such."""
    return session.scalars(
        select(RouteDocument).where(
            RouteDocument.route_version_id == route_version_id, RouteDocument.name == name
        )
    ).one_or_none()


def documents_of(session: Session, route_version_id: int) -> list[RouteDocument]:
    """Every frozen document of a route version, by name (their bytes load on access)."""
    return list(
        session.scalars(
            select(RouteDocument)
            .where(RouteDocument.route_version_id == route_version_id)
            .order_by(RouteDocument.name)
        )
    )


def _pdf(figs: Sequence[Figure], *, title: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = permit.save_permit_packet(figs, Path(tmp) / "sheets.pdf", title=title)
        return path.read_bytes()


def _pages(packet: bytes, pages: Sequence[int], *, title: str) -> bytes:
    reader = pypdf.PdfReader(io.BytesIO(packet))
    writer = pypdf.PdfWriter()
    for i in pages:
        writer.add_page(reader.pages[i])
    writer.add_metadata({"/Title": title, "/Creator": "cotrench"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
