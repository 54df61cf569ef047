"""Sample mail in the formats help desks get besides plain MIME: S/MIME
(made with openssl), PGP/MIME (made with gpg), delivery status
notifications as Postfix and Exchange write them, Outlook's winmail.dat
(TNEF, written here from the MS-OXTNEF layout, independently of the Go
reader), calendar invitations as Outlook and Gmail send them, forwarded
mail as Thunderbird, Outlook, Gmail and Apple Mail quote it, and inline
images. Called by gen_mail.py.

Samples made with openssl or gpg carry random bytes (IVs, signing time);
they are written only when missing, so a rerun leaves them as they are.
Delete one to make it anew.
"""

import base64
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "mail")
SMIME = os.path.join(HERE, "smime")


def b64(b):
    return base64.encodebytes(b).decode("ascii").replace("\n", "\r\n")


def crlf(s):
    return s.replace("\r\n", "\n").replace("\n", "\r\n")


# A 1x1 PNG, padded to the size wanted (a logo is small, a screenshot is not).
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def png(size):
    return PNG + bytes((i * 7) % 251 for i in range(max(0, size - len(PNG))))


def existing(name):
    return os.path.exists(os.path.join(OUT, name + ".eml"))


def keep(write, name, **expect):
    """Records the expectation of a sample that is not rewritten."""
    with open(os.path.join(OUT, name + ".eml"), "rb") as f:
        data = f.read()
    write(name, data, **expect)


# ---------------------------------------------------------------------------
# S/MIME and PGP/MIME


def openssl(args, data):
    return subprocess.run(["openssl"] + args, input=data, check=True, capture_output=True).stdout


def smime_mails(write, headers, msgid):
    inner = crlf("Content-Type: text/plain; charset=utf-8\n"
                 "Content-Transfer-Encoding: quoted-printable\n\n"
                 "Sehr geehrte Damen und Herren,\n\n"
                 "das Fachverfahren meldet seit heute Morgen Fehler 0x80090016 beim Signieren.\n"
                 "Bitte um R=C3=BCckruf.\n\nMit freundlichen Gr=C3=BC=C3=9Fen\nAnn Example\n").encode()
    common = ["-signer", os.path.join(SMIME, "cert.pem"), "-inkey", os.path.join(SMIME, "key.pem")]
    expect = dict(subject="Fehler beim Signieren", signed=True, signer="ann.signer@example.gov",
                  body=["Fehler 0x80090016", "Bitte um Rückruf."], attachments=[])

    def sample(name, args, **expect):
        if existing(name):
            keep(write, name, **expect)
            return
        out = openssl(["smime"] + args, inner).replace(b"MIME-Version: 1.0\n", b"")
        raw = headers(expect["subject"], frm="Ann Example <ann.signer@example.gov>", msgid=msgid(name),
                      extra=["MIME-Version: 1.0"]).encode() + out.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
        write(name, raw, **expect)

    # Opaque: the text sits inside the CMS structure (openssl smime -sign -nodetach).
    sample("smime-opaque-signed", ["-sign", "-nodetach"] + common, **expect)
    # Clear-signed: multipart/signed with a detached smime.p7s.
    sample("smime-clear-signed", ["-sign"] + common, **dict(expect, attachments=["smime.p7s"]))
    # Enveloped: unreadable without the key.
    sample("smime-encrypted", ["-encrypt", "-aes256", os.path.join(SMIME, "cert.pem")],
           subject="Vertraulich: Zugangsdaten", encrypted=True, attachments=[], body=[])

    # PGP/MIME encrypted (RFC 3156), as Thunderbird sends it.
    name = "pgp-encrypted"
    exp = dict(subject="...", encrypted=True, attachments=[], body=[])
    if not existing(name):
        home = tempfile.mkdtemp()
        try:
            armored = subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", "--symmetric", "--armor",
                                      "--passphrase", "triage-test", "--pinentry-mode", "loopback"],
                                     input=inner, check=True, capture_output=True).stdout.decode()
        finally:
            shutil.rmtree(home, ignore_errors=True)
        raw = headers("...", frm="Ann Example <ann@example.com>", msgid=msgid(name),
                      extra=["MIME-Version: 1.0", "User-Agent: Mozilla Thunderbird",
                             'Content-Type: multipart/encrypted;\r\n protocol="application/pgp-encrypted";\r\n boundary="------------enc1"'])
        raw += ("\r\nThis is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
                "--------------enc1\r\nContent-Type: application/pgp-encrypted\r\n"
                "Content-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n"
                "--------------enc1\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n"
                "Content-Description: OpenPGP encrypted message\r\n"
                "Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n" + crlf(armored) +
                "\r\n--------------enc1--\r\n")
        write(name, raw, **exp)
    else:
        keep(write, name, **exp)


# ---------------------------------------------------------------------------
# Delivery status notifications


def dsn_mails(write, headers, msgid):
    original = crlf("Return-Path: <ann@example.com>\nFrom: Ann Example <ann@example.com>\n"
                    "To: nobody@example.net, gone@example.org\nSubject: Printer on floor 3\n"
                    "Date: Fri, 27 Nov 2026 09:10:00 +0100\nMessage-ID: <printer-3@mail.example.com>\n\n"
                    "The printer on floor 3 is jammed.\n")
    # Postfix: text/plain, message/delivery-status, message/rfc822.
    raw = headers("Undelivered Mail Returned to Sender", frm="MAILER-DAEMON@mx.example.com (Mail Delivery System)",
                  to="ann@example.com", msgid=msgid("dsn-postfix"),
                  extra=["Auto-Submitted: auto-replied", "MIME-Version: 1.0",
                         'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="5F1A23C0A2.1764231243/mx.example.com"',
                         "Content-Transfer-Encoding: 8bit"])
    b = "5F1A23C0A2.1764231243/mx.example.com"
    raw += crlf("\nThis is a MIME-encapsulated message.\n\n--" + b + "\n"
                "Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
                "This is the mail system at host mx.example.com.\n\n"
                "I'm sorry to have to inform you that your message could not\n"
                "be delivered to one or more recipients. It's attached below.\n\n"
                "                   The mail system\n\n"
                "<nobody@example.net>: host mx.example.net[192.0.2.25] said: 550 5.1.1\n"
                "    <nobody@example.net>: Recipient address rejected: User unknown in virtual\n"
                "    mailbox table (in reply to RCPT TO command)\n\n"
                "<gone@example.org>: host mx.example.org[192.0.2.26] said: 552 5.2.2 Mailbox\n"
                "    full (in reply to RCPT TO command)\n\n"
                "--" + b + "\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
                "Reporting-MTA: dns; mx.example.com\nX-Postfix-Queue-ID: 5F1A23C0A2\n"
                "X-Postfix-Sender: rfc822; ann@example.com\nArrival-Date: Fri, 27 Nov 2026 09:10:01 +0100 (CET)\n\n"
                "Final-Recipient: rfc822; nobody@example.net\nOriginal-Recipient: rfc822;nobody@example.net\n"
                "Action: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.net\n"
                "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address\n"
                "    rejected: User unknown in virtual mailbox table\n\n"
                "Final-Recipient: rfc822; gone@example.org\nOriginal-Recipient: rfc822;gone@example.org\n"
                "Action: failed\nStatus: 5.2.2\nRemote-MTA: dns; mx.example.org\n"
                "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n\n"
                "--" + b + "\nContent-Description: Undelivered Message\nContent-Type: message/rfc822\n"
                "Content-Transfer-Encoding: 8bit\n\n" + original + "\n--" + b + "--\n")
    write("dsn-postfix", raw, subject="Undelivered Mail Returned to Sender", **{"from": "mailer-daemon@mx.example.com"},
          bounce=True, auto_reply=True, body=["could not", "User unknown"], attachments=[],
          bounce_recipients=["nobody@example.net", "gone@example.org"], bounce_status="5.1.1", forwarded=[])

    # Exchange Online: an HTML and text notice, then the report and the original.
    raw = headers("Undeliverable: Printer on floor 3",
                  frm="Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com>",
                  to="Ann Example <ann@example.com>", msgid=msgid("dsn-exchange"),
                  extra=["MIME-Version: 1.0", "X-MS-Exchange-Message-Is-Ndr:",
                         'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="a1b2c3d4-e5f6-4a5b-8c9d-0e1f2a3b4c5d"',
                         "Content-Language: en-US", "Auto-Submitted: auto-replied"])
    b = "a1b2c3d4-e5f6-4a5b-8c9d-0e1f2a3b4c5d"
    raw += crlf("\n--" + b + "\nContent-Type: multipart/alternative; differences=Content-Type;\n"
                "\tboundary=\"f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f\"\n\n"
                "--f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f\nContent-Type: text/plain; charset=\"us-ascii\"\n"
                "Content-Transfer-Encoding: quoted-printable\n\n"
                "Your message to nobody@example.net couldn't be delivered.\n"
                "nobody wasn't found at example.net.\n\nann     Office 365      nobody\nAction Required                 Recipient\n"
                "Unknown To address\n\n"
                "--f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f\nContent-Type: text/html; charset=\"us-ascii\"\n"
                "Content-Transfer-Encoding: quoted-printable\n\n"
                "<html><body><p>Your message to <a href=3D\"mailto:nobody@example.net\">nobody@example.net</a>"
                " couldn't be delivered.</p></body></html>\n\n"
                "--f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f--\n\n"
                "--" + b + "\nContent-Type: message/delivery-status\n\n"
                "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com\n"
                "Received-From-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com\n"
                "Arrival-Date: Fri, 27 Nov 2026 08:10:00 +0000\n\n"
                "Original-Recipient: rfc822;nobody@example.net\nFinal-Recipient: rfc822;nobody@example.net\n"
                "Action: failed\nStatus: 5.1.10\n"
                "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient nobody@example.net not found by SMTP address lookup\n\n"
                "--" + b + "\nContent-Type: message/rfc822\n\n" + original + "\n--" + b + "--\n")
    write("dsn-exchange", raw, subject="Undeliverable: Printer on floor 3", bounce=True, auto_reply=True,
          body=["couldn't be delivered"], attachments=[], bounce_recipients=["nobody@example.net"],
          bounce_status="5.1.10", forwarded=[])


# ---------------------------------------------------------------------------
# TNEF (winmail.dat), laid out as MS-OXTNEF describes it


def tnef_attr(level, attr_id, data):
    return struct.pack("<BII", level, attr_id, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def utf16z(s):
    return (s + "\0").encode("utf-16-le")


def mapi_props(props):
    out = struct.pack("<I", len(props))
    for ptype, pid, value in props:
        out += struct.pack("<HH", ptype, pid)
        if ptype in (0x001E, 0x001F, 0x0102, 0x000D):
            out += struct.pack("<II", 1, len(value)) + value + b"\0" * ((4 - len(value) % 4) % 4)
        elif ptype in (0x0003, 0x000B):
            out += struct.pack("<I", value)
        else:
            raise ValueError(ptype)
    return out


RTF_PREBUF = (b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
              b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
              b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx")


def lzfu(raw):
    """MS-OXRTFCP compressed RTF using literals only (valid, if not small),
    ended by the reference to the write position; CRC as the spec defines."""
    out, wpos = bytearray(), len(RTF_PREBUF)
    for i in range(0, len(raw) + 1, 8):
        chunk = raw[i:i + 8]
        if len(chunk) == 8:
            out += b"\0" + chunk
            wpos += 8
            continue
        out += bytes([1 << len(chunk)]) + chunk + struct.pack(">H", ((wpos + len(chunk)) % 4096) << 4)
        break
    crc = (~zlib.crc32(bytes(out), 0xFFFFFFFF)) & 0xFFFFFFFF
    return struct.pack("<IIII", len(out) + 12, len(raw), 0x75465A4C, crc) + bytes(out)


def tnef(body, attachments, rtf=None):
    out = struct.pack("<IH", 0x223E9F78, 0x4A1C)
    out += tnef_attr(1, 0x00089006, struct.pack("<I", 0x00010000))     # attTnefVersion
    out += tnef_attr(1, 0x00069007, struct.pack("<II", 1252, 0))       # attOemCodepage
    out += tnef_attr(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")     # attMessageClass
    props = [(0x0003, 0x0E07, 0x00000001)]                            # PR_MESSAGE_FLAGS
    if body is not None:
        props.append((0x001F, 0x1000, utf16z(body)))                  # PR_BODY, Unicode
    if rtf is not None:
        props.append((0x0102, 0x1009, lzfu(rtf)))                     # PR_RTF_COMPRESSED
    out += tnef_attr(1, 0x00069003, mapi_props(props))                # attMAPIProps
    for short, long_name, mime, data in attachments:
        out += tnef_attr(2, 0x00069002, struct.pack("<HIIHHI", 1, 0xFFFFFFFF, 0, 0, 0, 0))  # attAttachRendData
        out += tnef_attr(2, 0x00018010, short.encode("cp1252") + b"\0")  # attAttachTitle
        out += tnef_attr(2, 0x0006800F, data)                         # attAttachData
        out += tnef_attr(2, 0x00069005, mapi_props([                  # attAttachment
            (0x0003, 0x3705, 1),                                      # PR_ATTACH_METHOD: by value
            (0x001F, 0x3707, utf16z(long_name)),                      # PR_ATTACH_LONG_FILENAME
            (0x001E, 0x370E, mime.encode("ascii") + b"\0"),           # PR_ATTACH_MIME_TAG
        ]))
    return out


def tnef_mails(write, headers, msgid):
    pdf = b"%PDF-1.4\n" + bytes((i * 13) % 256 for i in range(4096)) + b"\n%%EOF\n"
    files = [("FEHLER~1.PDF", "Fehlerprotokoll März.pdf", "application/pdf", pdf),
             ("SCREEN~1.PNG", "Screenshot Anmeldung.png", "image/png", png(20000))]
    body = "Hallo Helpdesk,\n\nseit dem Update startet SAP nicht mehr: Fehler 0x80070005.\nProtokoll und Screenshot anbei.\n\nGrüße\nJörg Müller"
    # Exchange sending the whole message as TNEF: nothing readable outside it.
    raw = headers("SAP startet nicht", frm="Jörg Müller <joerg.mueller@example.com>", msgid=msgid("tnef-outlook"),
                  extra=["MIME-Version: 1.0", "X-MS-Has-Attach: yes", "X-MS-TNEF-Correlator: <ABCDEF0123@example.com>",
                         'Content-Type: multipart/mixed; boundary="_000_ABCDEF0123examplecom_"'])
    raw = raw.replace("Jörg Müller <", "=?iso-8859-1?Q?J=F6rg_M=FCller?= <")
    raw += ("\r\n--_000_ABCDEF0123examplecom_\r\n"
            "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
            "Content-Disposition: attachment; filename=\"winmail.dat\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64(tnef(body, files)) +
            "\r\n--_000_ABCDEF0123examplecom_--\r\n")
    write("tnef-outlook", raw, subject="SAP startet nicht", body=["startet SAP nicht mehr", "Grüße"],
          attachments=["Fehlerprotokoll März.pdf", "Screenshot Anmeldung.png"],
          sizes={"Fehlerprotokoll März.pdf": len(pdf), "Screenshot Anmeldung.png": 20000})

    # The common case: a text part Outlook also sends, and the TNEF without a body.
    raw = headers("Printer driver request", frm="Ann Example <ann@example.com>", msgid=msgid("tnef-with-text"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="_002_tnef_"'])
    raw += ("\r\n--_002_tnef_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\n"
            "Please install the attached printer driver on my laptop.\r\n\r\n"
            "--_002_tnef_\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
            "Content-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            b64(tnef(None, [("DRIVER~1.ZIP", "driver-x64.zip", "application/zip", b"PK\x03\x04" + bytes(1000))])) +
            "\r\n--_002_tnef_--\r\n")
    write("tnef-with-text", raw, subject="Printer driver request", body=["printer driver"],
          attachments=["driver-x64.zip"], sizes={"driver-x64.zip": 1004})

    # Outlook in rich-text mode: the body only as compressed RTF.
    rtf = (b"{\\rtf1\\ansi\\ansicpg1252\\deff0\\nouicompat{\\fonttbl{\\f0\\fswiss\\fcharset0 Calibri;}}\r\n"
           b"{\\*\\generator Riched20 16.0.5;}\\viewkind4\\uc1 \r\n\\pard\\sa200\\sl276\\slmult1\\f0\\fs22\\lang7 "
           b"Hallo Helpdesk,\\par\r\nder Drucker im 3. Stock zeigt Fehler 0x000000C5 (Papierstau). Bitte pr\\'fcfen.\\par\r\n"
           b"Gr\\'fc\\'dfe\\par\r\nUte\\par\r\n}\r\n\0")
    raw = headers("Drucker 3. Stock", frm="Ute Schmidt <ute.schmidt@example.com>", msgid=msgid("tnef-rtf"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="_003_rtf_"'])
    raw += ("\r\n--_003_rtf_\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
            "Content-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            b64(tnef(None, [], rtf=rtf)) + "\r\n--_003_rtf_--\r\n")
    write("tnef-rtf", raw, subject="Drucker 3. Stock", body=["Hallo Helpdesk,", "Papierstau). Bitte prüfen.", "Grüße\nUte"],
          body_excludes=["Calibri", "Riched20", "\\"], attachments=[])

    # A winmail.dat cut short inside the second file's data: what was read
    # is kept (the second file with its short name only), with a defect.
    whole = tnef(body, files)
    cut = whole[:whole.index(files[1][3][:64]) + 1000]
    raw = headers("Broken winmail", msgid=msgid("tnef-truncated"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"'])
    raw += ("\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n--b\r\n"
            "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            b64(cut) + "\r\n--b--\r\n")
    write("tnef-truncated", raw, subject="Broken winmail", body=["See attachment."],
          attachments=["Fehlerprotokoll März.pdf", "SCREEN~1.PNG"], defects=True)


# ---------------------------------------------------------------------------
# Calendar invitations

OUTLOOK_ICS = """BEGIN:VCALENDAR
METHOD:REQUEST
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
ORGANIZER;CN=Facility Management:mailto:facility@example.com
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Helpdesk:mailto:helpdesk@example.com
DESCRIPTION;LANGUAGE=de-DE:Der Beamer in Raum 4.12 zeigt kein Bild. Bitte vor dem Termin pruefen.\\n
UID:040000008200E00074C5B7101A82E00800000000F0B1C2D3E4F5D901000000000000000010000000A1B2C3D4E5F6
SUMMARY;LANGUAGE=de-DE:Vorstandssitzung\\, Raum 4.12 – Beamer prüfen
DTSTART;TZID=W. Europe Standard Time:20261201T100000
DTEND;TZID=W. Europe Standard Time:20261201T113000
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20261127T081403Z
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:0
LOCATION;LANGUAGE=de-DE:Raum 4.12
END:VEVENT
END:VCALENDAR
"""

GMAIL_ICS = """BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REQUEST
BEGIN:VEVENT
DTSTART:20261203T140000Z
DTEND:20261203T143000Z
DTSTAMP:20261127T081403Z
ORGANIZER;CN=Ann Example:mailto:ann@example.com
UID:7kukuqrfedlm2f9t0vbqk1d9sd@google.com
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
 TRUE;CN=helpdesk@example.com;X-NUM-GUESTS=0:mailto:helpdesk@example.com
DESCRIPTION:Booking the meeting room fails with "no permission".
LOCATION:Meeting room Oslo (8)
SEQUENCE:0
STATUS:CONFIRMED
SUMMARY:Room booking fails – can you join?
TRANSP:OPAQUE
END:VEVENT
END:VCALENDAR
"""


def invite_mails(write, headers, msgid):
    ics = crlf(OUTLOOK_ICS)
    raw = headers("Vorstandssitzung, Raum 4.12 – Beamer prüfen", frm="Facility Management <facility@example.com>",
                  msgid=msgid("invite-outlook"),
                  extra=["MIME-Version: 1.0", "Content-Language: de-DE",
                         'Content-Type: multipart/alternative;\r\n boundary="_000_inv_"'])
    raw = raw.replace("Subject: Vorstandssitzung, Raum 4.12 – Beamer prüfen",
                      "Subject: =?utf-8?Q?Vorstandssitzung,_Raum_4.12_=E2=80=93_Beamer_pr=C3=BCfen?=")
    raw += ("\r\n--_000_inv_\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            b64("Der Beamer in Raum 4.12 zeigt kein Bild. Bitte vor dem Termin prüfen.\r\n".encode()) +
            "\r\n--_000_inv_\r\nContent-Type: text/calendar; charset=\"utf-8\"; method=REQUEST\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64(ics.encode()) + "\r\n--_000_inv_--\r\n")
    write("invite-outlook", raw, subject="Vorstandssitzung, Raum 4.12 – Beamer prüfen", body=["Beamer in Raum 4.12"],
          attachments=[], invite_summary="Vorstandssitzung, Raum 4.12 – Beamer prüfen",
          invite_start="2026-12-01T10:00:00+01:00", invite_method="REQUEST")

    ics = crlf(GMAIL_ICS)
    raw = headers("Invitation: Room booking fails – can you join? @ Thu Dec 3, 2026 3pm - 3:30pm (CET)",
                  frm="Ann Example <ann@example.com>", msgid=msgid("invite-gmail"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="000000000000a1b2c3"'])
    raw = raw.replace("Subject: Invitation: Room booking fails – can you join?",
                      "Subject: =?UTF-8?Q?Invitation=3A_Room_booking_fails_=E2=80=93_can_you_join=3F?=")
    raw += ("\r\n--000000000000a1b2c3\r\nContent-Type: multipart/alternative; boundary=\"000000000000a1b2c2\"\r\n\r\n"
            "--000000000000a1b2c2\r\nContent-Type: text/plain; charset=\"UTF-8\"; format=flowed; delsp=yes\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" +
            b64("You have been invited to the following event.\r\n\r\nTitle: Room booking fails – can you join?\r\n"
                "When: Thu Dec 3, 2026 3pm – 3:30pm Central European Time - Berlin\r\n".encode()) +
            "\r\n--000000000000a1b2c2\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\r\n"
            "<p>You have been invited to the following event.</p>\r\n"
            "--000000000000a1b2c2\r\nContent-Type: text/calendar; charset=\"UTF-8\"; method=REQUEST\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n" + ics +
            "\r\n--000000000000a1b2c2--\r\n"
            "--000000000000a1b2c3\r\nContent-Type: application/ics; name=\"invite.ics\"\r\n"
            "Content-Disposition: attachment; filename=\"invite.ics\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            b64(ics.encode()) + "\r\n--000000000000a1b2c3--\r\n")
    write("invite-gmail", raw, body=["invited to the following event"], attachments=["invite.ics"],
          sizes={"invite.ics": len(ics.encode())}, invite_summary="Room booking fails – can you join?",
          invite_start="2026-12-03T14:00:00Z", invite_method="REQUEST")


# ---------------------------------------------------------------------------
# Forwarded mail quoted in the body, as the common clients write it

PHISH_FROM = "PayPal Security <security-alert@paypa1.example.net>"


def forward_mails(write, headers, msgid):
    def plain(name, subject, text, frm="Ann Example <ann@example.com>", **expect):
        raw = headers(subject, frm=frm, msgid=msgid(name),
                      extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8; format=flowed",
                             "Content-Transfer-Encoding: 8bit"])
        write(name, raw + "\r\n" + crlf(text), **expect)

    plain("forward-thunderbird", "Fwd: Your account has been limited", """Is this phishing?

-------- Forwarded Message --------
Subject: 	Your account has been limited
Date: 	Thu, 26 Nov 2026 23:01:00 +0100
From: 	PayPal Security <security-alert@paypa1.example.net>
To: 	ann@example.com

Dear customer, please confirm your password at http://paypa1.example.net/login
""", forwarded=["security-alert@paypa1.example.net"], forwarded_subjects=["Your account has been limited"],
          body=["Is this phishing?"], attachments=[])

    plain("forward-thunderbird-german", "WG: Ihr Konto wurde eingeschränkt", """Ist das Phishing?

-------- Weitergeleitete Nachricht --------
Betreff: 	Ihr Konto wurde eingeschränkt
Datum: 	Thu, 26 Nov 2026 23:01:00 +0100
Von: 	PayPal Sicherheit <security-alert@paypa1.example.net>
An: 	ann@example.com

Sehr geehrter Kunde, bitte bestätigen Sie Ihr Passwort.
""", forwarded=["security-alert@paypa1.example.net"], forwarded_subjects=["Ihr Konto wurde eingeschränkt"],
          body=["Ist das Phishing?"], attachments=[])

    plain("forward-gmail", "Fwd: Invoice overdue", """Looks fake, can you check?

---------- Forwarded message ---------
From: Billing Team <billing@invoices-example.top>
Date: Thu, Nov 26, 2026 at 11:01 PM
Subject: Invoice overdue
To: <ann@example.com>


Open the attached invoice immediately.
""", forwarded=["billing@invoices-example.top"], forwarded_subjects=["Invoice overdue"], attachments=[])

    plain("forward-apple", "Fwd: Voicemail received", """Sent from my iPhone

Begin forwarded message:

> From: Voicemail <voicemail@phone-example.click>
> Subject: Voicemail received
> Date: 26 November 2026 at 23:01:00 CET
> To: ann@example.com
>
> You have a new voicemail. Listen here.
""", forwarded=["voicemail@phone-example.click"], forwarded_subjects=["Voicemail received"], attachments=[])

    plain("forward-outlook", "FW: Action required: mailbox quota", """Please check this one.

Thanks, Ann

________________________________
From: IT Service Desk <it-desk@example-mailbox.info>
Sent: Thursday, November 26, 2026 11:01 PM
To: Ann Example <ann@example.com>
Subject: Action required: mailbox quota

Your mailbox is full. Click here to upgrade.
""", forwarded=["it-desk@example-mailbox.info"], forwarded_subjects=["Action required: mailbox quota"], attachments=[])

    plain("forward-outlook-german", "WG: Dringend: Rechnung", """Bitte prüfen.

Von: Buchhaltung [mailto:buchhaltung@rechnung-example.xyz]
Gesendet: Donnerstag, 26. November 2026 23:01
An: Jörg Müller <joerg.mueller@example.com>
Betreff: Dringend: Rechnung

Bitte begleichen Sie die offene Rechnung.
""", frm="Jörg Müller <joerg.mueller@example.com>", forwarded=["buchhaltung@rechnung-example.xyz"],
          forwarded_subjects=["Dringend: Rechnung"], attachments=[])

    plain("forward-outlook-french", "TR: Mot de passe expiré", """Est-ce légitime ?

-----Message d'origine-----
De : Support <support@motdepasse-example.live>
Envoyé : jeudi 26 novembre 2026 23:01
À : Ann Example <ann@example.com>
Objet : Mot de passe expiré

Votre mot de passe expire aujourd'hui.
""", forwarded=["support@motdepasse-example.live"], forwarded_subjects=["Mot de passe expiré"], attachments=[])

    plain("forward-outlook-original", "FW: Printer", """FYI

-----Original Message-----
From: Bob <bob@example.com>
Sent: Thursday, November 26, 2026 5:00 PM
To: Ann Example <ann@example.com>
Subject: Printer

The printer on floor 3 is jammed.
""", forwarded=["bob@example.com"], forwarded_subjects=["Printer"], attachments=[])

    # Not a forward: a "From:" line in running text without a date line.
    plain("forward-none", "Mail from the CEO", """Hi,

From: what I can tell, the mail from the CEO never arrived.
Subject: of the mail was "Budget".

Ann
""", forwarded=[], attachments=[])


# ---------------------------------------------------------------------------
# Inline images: a signature logo and a pasted screenshot (both shown in the
# HTML by cid:) beside a file the sender attached


def inline_mails(write, headers, msgid):
    logo, shot = png(3000), png(180000)
    raw = headers("Error when opening the CRM", msgid=msgid("inline-images"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed;\r\n boundary="_010_mixed_"'])
    raw += ("\r\n--_010_mixed_\r\nContent-Type: multipart/related;\r\n boundary=\"_009_related_\";\r\n type=\"multipart/alternative\"\r\n\r\n"
            "--_009_related_\r\nContent-Type: multipart/alternative;\r\n boundary=\"_000_alt_\"\r\n\r\n"
            "--_000_alt_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\n"
            "The CRM shows this error:\r\n\r\n[cid:image002.png@01DB40A1.5C3E2F10]\r\n\r\nAnn Example\r\n[cid:image001.png@01DB40A1.5C3E2F10]\r\n\r\n"
            "--_000_alt_\r\nContent-Type: text/html; charset=\"us-ascii\"\r\n\r\n"
            "<html><body><p>The CRM shows this error:</p><p><img width=\"1200\" height=\"800\" id=\"Picture_x0020_2\" "
            "src=\"cid:image002.png@01DB40A1.5C3E2F10\"></p><p>Ann Example<br><img src=\"cid:image001.png@01DB40A1.5C3E2F10\" "
            "alt=\"Logo\"></p></body></html>\r\n\r\n--_000_alt_--\r\n\r\n"
            "--_009_related_\r\nContent-Type: image/png; name=\"image001.png\"\r\nContent-Description: image001.png\r\n"
            "Content-Disposition: inline; filename=\"image001.png\"; size=3000\r\n"
            "Content-ID: <image001.png@01DB40A1.5C3E2F10>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(logo) +
            "\r\n--_009_related_\r\nContent-Type: image/png; name=\"image002.png\"\r\nContent-Description: image002.png\r\n"
            "Content-ID: <image002.png@01DB40A1.5C3E2F10>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(shot) +
            "\r\n--_009_related_--\r\n\r\n"
            "--_010_mixed_\r\nContent-Type: text/plain; name=\"crm-error.log\"\r\nContent-Description: crm-error.log\r\n"
            "Content-Disposition: attachment; filename=\"crm-error.log\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            b64(b"2026-11-27 09:01:02 ERROR CRM-4711 connection refused\n") + "\r\n--_010_mixed_--\r\n")
    write("inline-images", raw, subject="Error when opening the CRM", body=["The CRM shows this error"],
          attachments=["image001.png", "image002.png", "crm-error.log"],
          sizes={"image001.png": 3000, "image002.png": 180000}, inline=["image001.png", "image002.png"])


def format_mails(write, headers, msgid):
    smime_mails(write, headers, msgid)
    dsn_mails(write, headers, msgid)
    tnef_mails(write, headers, msgid)
    invite_mails(write, headers, msgid)
    forward_mails(write, headers, msgid)
    inline_mails(write, headers, msgid)
