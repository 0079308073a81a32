"""The registry's tables (SQLAlchemy 2, typed).

Identity is kept apart: a patient row holds only a generated pseudonym; names, medical record
numbers and DICOM identifying tags live in ``identifiers`` and leave the database only when a user
asks for them. Times are ISO-8601 UTC strings so that they hash and compare the same on SQLite and
PostgreSQL (the audit chain hashes them).

The model's grade and any clinician override are separate rows: both are kept.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy import false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "Patient",
    "Identifier",
    "Visit",
    "KneeImage",
    "GradeRecord",
    "RiskRecord",
    "Override",
    "AuditEvent",
    "SchemaVersion",
    "UserRole",
]


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    """One row per applied schema version; the highest is the database's version."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[str] = mapped_column(String(32))


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    created_at: Mapped[str] = mapped_column(String(32))

    identifiers: Mapped[list[Identifier]] = relationship(back_populates="patient", cascade="all, delete-orphan", passive_deletes=True)
    visits: Mapped[list[Visit]] = relationship(back_populates="patient", cascade="all, delete-orphan", passive_deletes=True,
                                               order_by="Visit.visit_date")


class Identifier(Base):
    """An identifying value (``kind`` e.g. "PatientName", "PatientID", "MRN"); never exported by default."""

    __tablename__ = "identifiers"
    __table_args__ = (UniqueConstraint("patient_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="identifiers")


class Visit(Base):
    """One knee at one visit. ``clinical_json`` holds the clinical inputs as entered."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    visit_date: Mapped[date] = mapped_column(Date)
    laterality: Mapped[str | None] = mapped_column(String(1))
    created_at: Mapped[str] = mapped_column(String(32))
    user: Mapped[str | None] = mapped_column(String(128))
    clinical_json: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="visits")
    image: Mapped[KneeImage | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    grade: Mapped[GradeRecord | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    risks: Mapped[list[RiskRecord]] = relationship(cascade="all, delete-orphan", passive_deletes=True, order_by="RiskRecord.id")
    overrides: Mapped[list[Override]] = relationship(cascade="all, delete-orphan", passive_deletes=True, order_by="Override.id")


class KneeImage(Base):
    """The knee crop as graded (PNG), the source file's sha256, and (schema v2) its scale and heatmap."""

    __tablename__ = "knee_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    crop_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    mm_per_pixel: Mapped[float | None] = mapped_column(Float)  # added in schema v2
    heatmap_png: Mapped[bytes | None] = mapped_column(LargeBinary)  # added in schema v2
    # The image was a negative, turned back before grading (docs/polarity.md); schema v5.
    inverted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class GradeRecord(Base):
    """The model's KL grade (named so as not to clash with :class:`kneeai.schemas.GradeResult`)."""

    __tablename__ = "grade_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), unique=True)
    kl_grade: Mapped[int] = mapped_column(Integer)
    probabilities_json: Mapped[str] = mapped_column(Text)
    expected_grade: Mapped[float] = mapped_column(Float)
    entropy: Mapped[float] = mapped_column(Float)
    flip_disagreement: Mapped[float] = mapped_column(Float)
    model_id: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)
    outside_validated_use: Mapped[bool] = mapped_column(Boolean, default=False)


class RiskRecord(Base):
    """One survival model's answer for a visit; ``risk_json`` keeps the whole curve for re-export."""

    __tablename__ = "risk_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    simulated: Mapped[bool] = mapped_column(Boolean)
    inputs_json: Mapped[str] = mapped_column(Text)
    risk_json: Mapped[str] = mapped_column(Text)


class Override(Base):
    """A clinician's KL grade with its reason. The latest row for a visit is the one in force."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    kl_grade: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    user: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[str] = mapped_column(String(32))


class AuditEvent(Base):
    """An append-only, chained record sealed with HMAC-SHA256 (see :mod:`kneeai.store.audit`).

    ``scheme`` (schema v3) is "hmac-sha256", or NULL for rows sealed with plain SHA-256 before v3;
    ``key_id`` names the key that sealed the row (not the key itself).

    No foreign keys on purpose: the trail must outlive the rows it talks about (deletions too).
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    user: Mapped[str | None] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(Text)
    weights_sha256: Mapped[str | None] = mapped_column(Text)
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    output_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    scheme: Mapped[str | None] = mapped_column(String(16))  # added in schema v3
    key_id: Mapped[str | None] = mapped_column(String(16))  # added in schema v3


class UserRole(Base):
    """A KneeAI role that an admin gave a signed-in user (schema v4), by the user's ID-token
    subject. It adds to the roles the ID token's claim carries; every change is an audit event."""

    __tablename__ = "user_roles"

    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_by: Mapped[str | None] = mapped_column(String(128))
    granted_at: Mapped[str] = mapped_column(String(32))
