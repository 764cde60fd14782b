"""The reference's uac.js behaviours against our engine, with SIPp far ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from srf_e2e_util import HOST, Sipp

from drachtio.srf import Dialog, SipError, Srf

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)
AUTH = {"username": "foo", "password": "bar"}

MkSipp = Callable[..., Sipp]


async def _finish(far: Sipp) -> None:
    res = await far.wait()
    assert res, f"sipp failed ({res.returncode}):\n{res.output}\n{res.log}"


async def test_create_uac_dialog_and_destroy(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("uas.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP, headers={"Subject": "promise"})
        assert isinstance(dlg, Dialog) and dlg.connected and dlg.type == "uac"
        assert "m=audio" in dlg.remote.sdp and dlg.remote.uri.startswith("sip:sipp-uas@")
        assert srf.find_dialog_by_id(dlg.id) is dlg
        bye = await dlg.destroy()
        assert bye is not None and bye.method == "BYE"
        await _finish(far)
    assert srf.find_dialog_by_id(dlg.id) is None


async def test_prack_sent_for_reliable_provisional(srf: Srf, sipp: MkSipp) -> None:
    provisional: list[int] = []
    async with sipp("uas-prack.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP,
                                   headers={"Supported": "100rel", "Subject": "prack"},
                                   on_provisional=lambda r: provisional.append(r.status))
        assert 180 in provisional
        await dlg.destroy()
        await _finish(far)  # the scenario checks the PRACK and its RAck


async def test_follow_redirect_keep_uri(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("uas.xml") as final, sipp("srf-uas-302.xml",
                    extra=["-key", "target", f"{HOST}:{final.port}"]) as redirector:
        dlg = await srf.create_uac(f"sip:bob@{HOST}:{redirector.port}", local_sdp=SDP,
                                   follow_redirects=True, keep_uri_on_redirect=True)
        assert isinstance(dlg, Dialog)
        # the request-URI was kept; the INVITE went via the Contact as proxy
        assert dlg.req.uri == f"sip:bob@{HOST}:{redirector.port}"
        await dlg.destroy()
        await _finish(redirector)
        await _finish(final)


async def test_follow_redirect_new_uri(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("uas.xml") as final, sipp("srf-uas-302.xml",
                    extra=["-key", "target", f"{HOST}:{final.port}"]) as redirector:
        dlg = await srf.create_uac(redirector.uri, local_sdp=SDP, follow_redirects=True)
        assert dlg.req.uri == f"sip:{HOST}:{final.port}"
        await dlg.destroy()
        await _finish(redirector)
        await _finish(final)


@pytest.mark.parametrize("contact", [None, "Contact", "contact"])
async def test_calling_number_sets_from_and_contact(srf: Srf, sipp: MkSipp,
                                                    contact: str | None) -> None:
    headers = {contact: f"<sip:mine@{HOST}>"} if contact else {}
    async with sipp("uas.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP, calling_number="+15083084809",
                                   headers=headers)
        frm = dlg.req.get("From") or ""
        assert frm.startswith("<sip:+15083084809@127.0.0.1:")  # localhost substituted
        if contact:
            assert dlg.local.contact == f"<sip:mine@{HOST}>"
        else:
            assert dlg.local.contact.startswith("<sip:+15083084809@127.0.0.1:")
        await dlg.destroy()
        await _finish(far)


async def test_concurrent_modifies_are_serialised(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("srf-uas-reinvite-overlap.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP)
        results = await asyncio.gather(
            dlg.modify(SDP.replace("9000", "9010")),
            dlg.modify(SDP.replace("9000", "9020")),
            dlg.modify(SDP.replace("9000", "9030")),
        )
        assert all("m=audio" in r for r in results)
        assert dlg.local.sdp == SDP.replace("9000", "9030")
        await dlg.destroy()
        await _finish(far)


async def test_digest_auth_on_invite(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("srf-uas-auth.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP, auth=AUTH)
        assert isinstance(dlg, Dialog)
        await dlg.destroy()
        await _finish(far)


async def test_407_without_challenge_rejects(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("srf-uas-407-no-auth-header.xml") as far:
        with pytest.raises(SipError) as ei:
            await srf.create_uac(far.uri, local_sdp=SDP, auth=AUTH)
        assert ei.value.status == 407
        await _finish(far)


async def test_digest_auth_on_bye(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("srf-uas-bye-with-auth.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP, auth=AUTH)
        bye = await dlg.destroy()
        assert bye is not None
        await _finish(far)


async def test_digest_auth_on_reinvite_hold(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("srf-uas-reinvite-with-auth.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP, auth=AUTH)
        await dlg.modify("hold")
        assert dlg.on_hold
        await dlg.destroy()
        await _finish(far)


async def test_register_with_auth(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("uas-auth-register.xml") as far:
        req = await srf.request(far.uri, method="REGISTER", auth=AUTH, headers={
            "Contact": "<sip:foo@localhost>", "To": f"<sip:foo@{HOST}>",
            "From": f"<sip:foo@{HOST}>", "Expires": "3600"})
        res = await req.response()
        assert res.status == 200
        await _finish(far)


async def test_cancel_from_provisional_callback(srf: Srf, sipp: MkSipp) -> None:
    sent: list = []

    def on_provisional(res) -> None:
        if res.status == 180:
            sent[0].cancel(headers={"Reason": 'SIP;cause=200;text="caller gave up"'})

    async with sipp("uas-cancel.xml") as far:
        with pytest.raises(SipError) as ei:
            await srf.create_uac(far.uri, local_sdp=SDP, on_request=sent.append,
                                 on_provisional=on_provisional)
        assert ei.value.status == 487
        await _finish(far)


async def test_far_end_update_after_connect_auto_answered(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("uas-update-with-sdp.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP)
        await asyncio.sleep(0.5)  # the UPDATE arrives and gets 200 with our SDP
        await dlg.destroy()
        await _finish(far)


async def test_far_end_reinvite_right_after_ack(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("uas-reinvite.xml") as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP)
        modified: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        dlg.on("modify", lambda req, res: (res.send(200, body=dlg.local.sdp, headers={
            "Content-Type": "application/sdp"}), modified.set_result(req.get("Subject") or "")))
        assert await asyncio.wait_for(modified, 5) == "fast reinvite from B"
        await asyncio.sleep(0.1)
        await dlg.destroy()
        await _finish(far)


async def test_far_end_hangs_up(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("uas-hangup.xml", extra=["-d", "200"]) as far:
        dlg = await srf.create_uac(far.uri, local_sdp=SDP)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        dlg.on("destroy", lambda bye, reason: done.set_result(reason))
        assert await asyncio.wait_for(done, 5) == "normal release"
        assert not dlg.connected
        await _finish(far)


async def test_update_during_setup_answered_with_offer(srf: Srf, sipp: MkSipp) -> None:
    async with sipp("srf-uas-update-early.xml", timeout=8) as far:
        dlg = await asyncio.wait_for(srf.create_uac(far.uri, local_sdp=SDP), 5)
        assert isinstance(dlg, Dialog)
        await dlg.destroy()
        await _finish(far)  # checks that our 200 to the UPDATE carried an SDP
