"""Model names on the gateway: `provider/model` as in the catalogue (`openai/gpt-4o-mini`), or a bare
model name when exactly one of the key's usable providers has it.

Model names may hold a slash themselves (`berget/meta-llama/Llama-3.3-70B-Instruct`,
`openrouter/openrouter/auto`): the part before the first slash names a provider only when that
provider has the rest as a model; otherwise the whole name is read as a bare model name.
"""

from __future__ import annotations

from portal.apikeys.entries import Caller, Target
from portal.apikeys.hotpath import HotPath
from portal.apikeys.refusals import Refusal
from portal.gateway.errors import GatewayError

MAX_CHOICES_LISTED = 10


async def find_target(hotpath: HotPath, caller: Caller, name: str) -> Target:
    """The provider and model a request names; refusals as the hot path makes them (403 not allowed,
    404 unknown) or 400 `ambiguous_model` listing the choices."""
    providers = await hotpath.providers(caller)
    head, slash, rest = name.partition("/")
    if slash and head in providers and rest in providers[head].models:
        return await hotpath.find_model(caller, head, rest)
    holders = [p for p in providers.values() if name in p.models]
    usable = [p for p in holders if hotpath.usable(caller, p, p.models[name])]
    if len(usable) == 1:
        return await hotpath.find_model(caller, usable[0].name, name)
    if len(usable) > 1:
        choices = sorted(f"{p.name}/{name}" for p in usable)
        listed = ", ".join(choices[:MAX_CHOICES_LISTED]) + (
            ", …" if len(choices) > MAX_CHOICES_LISTED else ""
        )
        raise GatewayError(
            "ambiguous_model",
            f"several providers have the model {name!r}: name one of {listed}",
            param="model",
        )
    if len(holders) == 1:  # known but not usable: the refusal says why (not allowed, not enabled…)
        return await hotpath.find_model(caller, holders[0].name, name)
    raise Refusal("unknown_model", f"no model {name!r} for this API key: use provider/model, see /v1/models")


async def usable_models(hotpath: HotPath, caller: Caller) -> list[str]:
    """`provider/model` of every model this key may call now, sorted."""
    providers = await hotpath.providers(caller)
    return sorted(
        f"{provider.name}/{model.name}"
        for provider in providers.values()
        for model in provider.models.values()
        if hotpath.usable(caller, provider, model)
    )
