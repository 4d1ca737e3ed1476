#!/usr/bin/env python3
"""A real SIP phone (pjsua2, PJSIP's own API) playing a desk phone for tests.

It registers and answers the call it is offered, then obeys lines from stdin:
- `attended`: what a desk phone's transfer key does: holds the answered call (re-INVITE
  sendonly), calls the consult target, and once that answers sends REFER with Replaces on
  the held call (`Call.xferReplaces`); then exits once both of its calls are over.
- `call EXT`: calls an extension and waits for the answer.
- `blind EXT`: sends REFER (`Call.xfer`) on its call, then waits for the switch to release it.
- `hangup`: hangs its calls up; `quit`: leaves.
- `stats`: prints `stats <rx> <tx>`, the RTP packets its latest call (placed or answered)
  received and sent (received ones passed SRTP authentication when `--srtp` is on).
With `--tls-ca FILE` it talks SIP over TLS to the switch (`--registrar` is then the switch's
TLS address), trusting only the CA in FILE: a switch presenting another certificate fails
its registration (`registration_failed <code>`).
With `--gateway-cert CERT --gateway-key KEY` it plays a carrier's TLS gateway instead: it
listens for SIP over TLS on `--port` with that certificate, registers nowhere (it prints
`listening`), and answers the calls it gets like a phone.
With `--srtp` its calls are SRTP only (`RTP/SAVP` with SDES keys); with `--srtp-over-udp`
too even over plain signalling (secure signalling not required); with `--tone HZ` it sends
that tone instead of the null device's silence.
Progress is printed one word per line (`registered`, `answered`, `call_answered`,
`call_failed <code>`, `held`, `consult_answered`, `transfer <code>`, `released`,
`disconnected`, `done`) for the test to follow. It exits 0
when told to quit or after an attended transfer, 1 on a failed attended transfer, 2 on a
timeout.
"""

import argparse
import os
import select
import sys
import time

import pjsua2 as pj


def say(*words):
    print(*words, flush=True)


def leave(code):
    """Exits at once: PJSIP's teardown at interpreter exit is not worth the risk of a crash."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Call(pj.Call):
    def __init__(self, phone, acc, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.phone = phone
        self.confirmed = False
        self.disconnected = False
        self.final_code = None

    def onCallState(self, prm):
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # Read now: the call's info is gone once it is disconnected.
            self.final_code = info.lastStatusCode
            self.disconnected = True
            say("disconnected")

    def onCallMediaState(self, prm):
        info = self.getInfo()
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (
                pj.PJSUA_CALL_MEDIA_ACTIVE,
                pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
            ):
                # Null sound device: connect the call to the bridge so RTP flows.
                audio = self.getAudioMedia(i)
                self.phone.source().startTransmit(audio)
            if media.status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD:
                self.phone.held = True

    def onCallTransferStatus(self, prm):
        if prm.finalNotify or prm.statusCode >= 200:
            self.phone.transfer_code = prm.statusCode
            prm.cont = False


class Account(pj.Account):
    def __init__(self, phone):
        super().__init__()
        self.phone = phone

    def onRegState(self, prm):
        if prm.code == 200 and not self.phone.registered:
            self.phone.registered = True
            say("registered")
        elif prm.code >= 300 and not self.phone.registered:
            say("registration_failed", prm.code)
            leave(3)

    def onIncomingCall(self, prm):
        call = Call(self.phone, self, prm.callId)
        self.phone.customer = call
        self.phone.latest = call
        answer = pj.CallOpParam()
        answer.statusCode = 200
        call.answer(answer)
        say("answered")


class Phone:
    def __init__(self, args):
        self.args = args
        self.registered = False
        self.held = False
        self.customer = None
        self.placed = None
        self.consult = None
        self.transfer_code = None
        self.latest = None
        # URI parameter that keeps the phone's requests on TLS.
        self.suffix = ";transport=tls" if args.tls_ca else ""
        self.tone = None
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.logConfig.level = 3
        config.logConfig.consoleLevel = 3
        config.medConfig.noVad = True
        self.ep.libInit(config)
        sip = pj.TransportConfig()
        sip.port = args.port
        sip.boundAddress = "127.0.0.1"
        if args.gateway_cert:
            sip.tlsConfig.certFile = args.gateway_cert
            sip.tlsConfig.privKeyFile = args.gateway_key
            transport = self.ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, sip)
        elif args.tls_ca:
            sip.tlsConfig.CaListFile = args.tls_ca
            sip.tlsConfig.verifyServer = True
            transport = self.ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, sip)
        else:
            transport = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, sip)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        acc = pj.AccountConfig()
        acc.idUri = f"sip:{args.user}@{args.host}"
        if not args.gateway_cert:
            acc.regConfig.registrarUri = f"sip:{args.registrar}{self.suffix}"
        acc.sipConfig.transportId = transport
        acc.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", args.user, 0, args.password)
        )
        acc.natConfig.contactRewriteUse = 0
        acc.natConfig.viaRewriteUse = 0
        acc.natConfig.sdpNatRewriteUse = 0
        acc.mediaConfig.transportConfig.port = args.rtp
        acc.mediaConfig.transportConfig.portRange = 4
        acc.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        if args.srtp:
            acc.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
            # 1: SDES only over TLS (PJSIP's default); 0: over anything (the lab switch).
            acc.mediaConfig.srtpSecureSignaling = 0 if args.srtp_over_udp else 1
        self.account = Account(self)
        self.account.create(acc)

    def source(self):
        """What the phone says: the null device's silence, or a steady tone."""
        if not self.args.tone:
            return self.ep.audDevManager().getCaptureDevMedia()
        if self.tone is None:
            self.tone = pj.ToneGenerator()
            self.tone.createToneGenerator()
            desc = pj.ToneDesc()
            desc.freq1 = self.args.tone
            desc.freq2 = 0
            desc.on_msec = 1000
            desc.off_msec = 0
            desc.volume = 0
            tones = pj.ToneDescVector()
            tones.append(desc)
            self.tone.play(tones, True)
        return self.tone

    def stats(self):
        """Prints the RTP packets the latest call received and sent (0 0 without a stream)."""
        try:
            rtcp = self.latest.getStreamStat(0).rtcp
            say("stats", rtcp.rxStat.pkt, rtcp.txStat.pkt)
        except Exception:  # no call, or its media is gone
            say("stats", 0, 0)

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ep.libHandleEvents(10)

    def until(self, what, check, timeout):
        end = time.monotonic() + timeout
        while not check():
            if time.monotonic() > end:
                say("timeout", what)
                leave(2)
            self.ep.libHandleEvents(10)

    def attended_transfer(self):
        hold = pj.CallOpParam(True)
        self.customer.setHold(hold)
        self.until("hold", lambda: self.held, 10)
        say("held")
        self.consult = Call(self, self.account)
        self.consult.makeCall(f"sip:{self.args.consult}@{self.args.registrar}{self.suffix}", pj.CallOpParam(True))
        self.until("consult answer", lambda: self.consult.confirmed, 15)
        say("consult_answered")
        self.pump(1.0)
        self.customer.xferReplaces(self.consult, pj.CallOpParam(True))
        self.until("transfer outcome", lambda: self.transfer_code is not None, 15)
        say("transfer", self.transfer_code)
        if self.transfer_code != 200:
            leave(1)
        # The switch releases both of this phone's legs.
        self.until(
            "both calls released",
            lambda: self.customer.disconnected and self.consult.disconnected,
            15,
        )
        say("done")

    def call(self, extension):
        self.placed = Call(self, self.account)
        self.latest = self.placed
        uri = f"sip:{extension}@{self.args.registrar}{self.suffix}"
        self.placed.makeCall(uri, pj.CallOpParam(True))
        self.until("answer", lambda: self.placed.confirmed or self.placed.disconnected, 15)
        if self.placed.confirmed:
            say("call_answered")
        else:
            say("call_failed", self.placed.final_code)

    def blind_transfer(self, extension):
        call = self.placed or self.customer
        self.until("an answered call", lambda: call is not None and call.confirmed, 15)
        self.transfer_code = None
        call.xfer(f"sip:{extension}@{self.args.host}", pj.CallOpParam(True))
        self.until("transfer outcome", lambda: self.transfer_code is not None, 40)
        say("transfer", self.transfer_code)
        if self.transfer_code == 200:
            # The switch releases the transferred call.
            self.until("call released", lambda: call.disconnected, 15)
            say("released")

    def run(self):
        if self.args.gateway_cert:
            say("listening")
        else:
            self.until("registration", lambda: self.registered, 15)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            self.ep.libHandleEvents(10)
            ready, _, _ = select.select([sys.stdin], [], [], 0)
            if not ready:
                continue
            line = sys.stdin.readline().strip()
            command, _, argument = line.partition(" ")
            if command == "attended":
                self.until("an answered call", lambda: self.customer is not None and self.customer.confirmed, 15)
                self.attended_transfer()
                return
            if command == "call":
                self.call(argument)
            elif command == "blind":
                self.blind_transfer(argument)
            elif command == "stats":
                self.stats()
            elif command == "hangup":
                self.ep.hangupAllCalls()
                self.pump(0.5)
                say("hung_up")
            elif command in ("", "quit"):
                return
        say("timeout", "no command")
        leave(2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrar", required=True, help="host:port of the switch")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, required=True, help="local SIP port")
    parser.add_argument("--rtp", type=int, required=True, help="first local RTP port")
    parser.add_argument("--consult", default="", help="extension the transfer key consults")
    parser.add_argument("--tls-ca", default="", help="talk TLS, trusting this CA file only")
    parser.add_argument("--srtp", action="store_true", help="SRTP (SDES) mandatory")
    parser.add_argument(
        "--srtp-over-udp", action="store_true", help="SDES keys even without TLS (lab only)"
    )
    parser.add_argument("--tone", type=int, default=0, help="send this tone (Hz)")
    parser.add_argument("--gateway-cert", default="", help="be a TLS gateway with this cert")
    parser.add_argument("--gateway-key", default="", help="the gateway certificate's key")
    phone = Phone(parser.parse_args())
    phone.run()
    # Leave without unregistering noise: the test is over.
    phone.ep.hangupAllCalls()
    phone.pump(0.2)
    leave(0)


if __name__ == "__main__":
    main()
