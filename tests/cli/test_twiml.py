"""`config-sync twiml AGENT_ID` as an operator runs it: TwiML that connects a Twilio number to the agent on Pipecat
Cloud, read from Postgres, parsed as XML (what Twilio does with it)."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory
from tests.cli.support import run_cli
from tests.helpers import DEPLOYMENT, make_agent


def stream_of(twiml: str) -> tuple[str, dict[str, str]]:
    """The one `<Connect><Stream>` of a TwiML document: its URL and its parameters."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response" and [child.tag for child in root] == ["Connect"]
    connect = root[0]
    assert [child.tag for child in connect] == ["Stream"]
    stream = connect[0]
    assert all(p.tag == "Parameter" and set(p.attrib) == {"name", "value"} for p in stream)
    return stream.attrib["url"], {p.attrib["name"]: p.attrib["value"] for p in stream}


async def test_twiml_routes_a_number_to_the_agent_in_its_region(
    settings: Settings, session_factory: SessionFactory
) -> None:
    anywhere = await make_agent(session_factory, "support-desk")
    eu = await make_agent(session_factory, deployment=DEPLOYMENT | {"region": "eu-central"})

    printed = await run_cli(settings, "twiml", str(anywhere.id), PIPECAT_ORG="acme-voice")
    assert printed.code == 0, printed.stderr
    assert printed.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    url, parameters = stream_of(printed.stdout)
    assert url == "wss://api.pipecat.daily.co/ws/twilio"  # the default region
    assert parameters == {
        "_pipecatCloudServiceHost": "support-desk.acme-voice",
        "from_number": "{{From}}",  # a TwiML Bin fills these in
        "to_number": "{{To}}",
    }

    url, parameters = stream_of((await run_cli(settings, "twiml", str(eu.id), PIPECAT_ORG="acme-voice")).stdout)
    assert url == "wss://eu-central.api.pipecat.daily.co/ws/twilio"
    assert parameters["_pipecatCloudServiceHost"] == f"{eu.pipecat_agent_name}.acme-voice"

    # no region configured: config-sync's AGENT_REGION, where it creates agents
    plain = await run_cli(
        settings, "twiml", str(anywhere.id), "--no-caller-parameters", PIPECAT_ORG="acme-voice", AGENT_REGION="us-east"
    )
    url, parameters = stream_of(plain.stdout)
    assert (url, parameters) == (
        "wss://us-east.api.pipecat.daily.co/ws/twilio",
        {"_pipecatCloudServiceHost": "support-desk.acme-voice"},
    )


async def test_twiml_says_what_is_missing(settings: Settings, session_factory: SessionFactory) -> None:
    agent = await make_agent(session_factory)
    no_org = await run_cli(settings, "twiml", str(agent.id))
    assert (no_org.code, no_org.stdout) == (2, "")
    assert "PIPECAT_ORG is not set" in no_org.stderr
    unknown = uuid.uuid4()
    missing = await run_cli(settings, "twiml", str(unknown), PIPECAT_ORG="acme")
    assert (missing.code, missing.stdout, missing.stderr.strip()) == (1, "", f"config-sync: no agent {unknown}")
    bad = await run_cli(settings, "twiml", "support-desk", PIPECAT_ORG="acme")
    assert bad.code == 2 and "not an agent id" in bad.stderr
    broken = await make_agent(session_factory, deployment={"region": "Mars Base"})
    refused = await run_cli(settings, "twiml", str(broken.id), PIPECAT_ORG="acme")
    assert refused.code == 1 and "deployment.region: must be a region code such as us-west" in refused.stderr
