"""Bodies of a workspace job's authorisation. Bytes travel as unpadded base64url."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.sme import decode, encode
from pnyx.workspaces.authorisation import MAX_BUNDLE, AuthorisationRequest, ObjectKey

MAX_SEALED_TEXT = (MAX_BUNDLE * 4) // 3 + 4


class ObjectKeyOut(BaseModel):
    object_id: str
    wrapped_key: str = Field(description="Its data key wrapped to the workspace's (the SME's) key, base64url")
    context: str = Field(description="<workspace>/<object>: what the key was wrapped under")

    @classmethod
    def of(cls, o: ObjectKey) -> ObjectKeyOut:
        return cls(object_id=o.object_id, wrapped_key=encode(o.wrapped_key), context=o.context)


class AuthorisationRequestOut(BaseModel):
    job_id: str
    workspace_id: str
    delivery_key_id: int = Field(description="The dispatcher's current delivery key: seal to it")
    delivery_public_key: str = Field(
        description="x25519:<base64url>; its private half is in the dispatcher's memory only"
    )
    context: str = Field(description="What to seal under: authorise/<job>/<delivery key id>")
    objects: list[ObjectKeyOut]

    @classmethod
    def of(cls, r: AuthorisationRequest, context: str) -> AuthorisationRequestOut:
        return cls(
            job_id=r.job_id,
            workspace_id=r.workspace_id,
            delivery_key_id=r.delivery_key_id,
            delivery_public_key=r.delivery_public_key,
            context=context,
            objects=[ObjectKeyOut.of(o) for o in r.objects],
        )


class AuthorisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivery_key_id: int = Field(ge=1, description="The delivery key the request named")
    sealed: str = Field(
        min_length=1,
        max_length=MAX_SEALED_TEXT,
        description="base64url of seal_to(delivery_public_key, JSON {object_id: base64 data key}, context)",
    )

    def sealed_bytes(self) -> bytes:
        return decode(self.sealed, "sealed")
