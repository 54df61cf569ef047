#!/usr/bin/env python3
"""Generate the sample help-desk mails in examples/mail.

The samples use many legacy charsets (ISO-2022-JP, Shift_JIS, KOI8-R, GB18030,
EUC-KR, windows-1252, ISO-8859-15); writing them by hand would get the bytes
wrong, so they are produced here. Run from anywhere:

    python3 examples/mail/gen/gen.py

Output is deterministic: re-running rewrites identical files.
"""

import base64
import os
import quopri
import sys

# The TNEF writer and image padding of the decoder's own samples.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "classifier", "testdata"))
import gen_formats  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Python codec names for the MIME charset names used in the mails.
CODECS = {
    "utf-8": "utf-8",
    "us-ascii": "ascii",
    "iso-2022-jp": "iso2022_jp",
    "shift_jis": "shift_jis",
    "windows-1252": "cp1252",
    "iso-8859-15": "iso8859_15",
    "koi8-r": "koi8_r",
    "gb18030": "gb18030",
    "euc-kr": "euc_kr",
}


def enc(s, charset):
    return s.encode(CODECS[charset.lower()])


def encoded_words(s, charset, mode="B"):
    """RFC 2047 encoded words, split on character boundaries so that every
    word stays under 75 octets and stateful charsets (ISO-2022-JP) return to
    ASCII inside each word."""
    words, chunk = [], ""
    for ch in s:
        trial = chunk + ch
        if len(_word(trial, charset, mode)) > 74 and chunk:
            words.append(_word(chunk, charset, mode))
            chunk = ch
        else:
            chunk = trial
    if chunk:
        words.append(_word(chunk, charset, mode))
    return "\n ".join(words)


def _word(s, charset, mode):
    raw = enc(s, charset)
    if mode == "B":
        payload = base64.b64encode(raw).decode("ascii")
    else:
        out = []
        for b in raw:
            c = chr(b)
            if c == " ":
                out.append("_")
            elif c.isalnum() and b < 128:
                out.append(c)
            else:
                out.append("=%02X" % b)
        payload = "".join(out)
    return "=?%s?%s?%s?=" % (charset, mode, payload)


def body_bytes(text, charset, cte):
    raw = enc(text, charset)
    if cte == "base64":
        return base64.encodebytes(raw)
    if cte == "quoted-printable":
        return quopri.encodestring(raw)
    return raw


def headers(**h):
    """Render headers in the given order; keys use _ for -."""
    lines = []
    for k, v in h.items():
        name = k.replace("_", "-")
        lines.append("%s: %s" % (name, v))
    return "\n".join(lines) + "\n"


def write(name, parts, crlf=False):
    """parts: list of str or bytes, joined; LF is turned into CRLF if asked."""
    data = b"".join(p.encode("ascii") if isinstance(p, str) else p for p in parts)
    data = data.replace(b"\r\n", b"\n")
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    path = os.path.join(OUT, name + ".eml")
    with open(path, "wb") as f:
        f.write(data)


def simple(name, hdr, text, charset="utf-8", cte="7bit", subtype="plain", crlf=False):
    ct = "text/%s; charset=%s" % (subtype, charset) if charset != "us-ascii" else "text/%s; charset=us-ascii" % subtype
    write(
        name,
        [
            hdr,
            "MIME-Version: 1.0\n",
            "Content-Type: %s\n" % ct,
            "Content-Transfer-Encoding: %s\n" % cte,
            "\n",
            body_bytes(text, charset, cte),
        ],
        crlf,
    )


def msgid(local):
    return "<%s@mail.example.com>" % local


def mail_headers(date, frm, to, subject, mid, cc=None, **extra):
    """The usual headers in order (Date, From, To, Cc if any, Subject,
    Message-ID), then extra's; mid is the Message-ID's local part, or the
    whole <id>."""
    h = dict(Date=date, From=frm, To=to)
    if cc:
        h["Cc"] = cc
    h.update(Subject=subject, Message_ID=mid if mid.startswith("<") else msgid(mid), **extra)
    return headers(**h)


def plain(name, date, frm, subject, mid, text, to="helpdesk@example.com", extra=None, **kw):
    """A single-part text mail with mail_headers and extra's; kw are
    simple's keywords."""
    simple(name, mail_headers(date, frm, to, subject, mid, **(extra or {})), text, **kw)


TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def main():
    # --- L1: passwords -----------------------------------------------------
    plain("password-reset-en", "Tue, 24 Nov 2026 08:47:12 +0100", '"Tom Baker" <tom.baker@example.com>',
          "Forgot my password - cannot log in to Windows", "CAF1a2b3-pw-en", """\
Hi IT,

I came back from holiday and I have forgotten my password.
Windows says the password is incorrect and I cannot log in.
Could you please reset it? I am at my desk, room 2.14, ext. 4417.

Thanks,
Tom
""", to="IT Helpdesk <helpdesk@example.com>", crlf=True)
    plain("password-reset-de-iso8859-15", "Tue, 24 Nov 2026 09:03:40 +0100", '=?iso-8859-15?Q?J=FCrgen_M=FCller?= <juergen.mueller@example.com>',
          encoded_words("Passwort abgelaufen, Anmeldung schlägt fehl", "iso-8859-15", "Q"), "20261124090340.pw-de", """\
Hallo zusammen,

mein Passwort ist heute abgelaufen und ich kann es nicht selbst ändern,
die Anmeldung am Rechner schlägt mit "Kennwort falsch" fehl.
Könnt ihr es bitte zurücksetzen?

Kostenstelle 4711, Einkauf (Budget 250 €)

Viele Grüße
Jürgen Müller
""", charset="iso-8859-15", cte="quoted-printable")
    plain("account-locked-ja-iso2022jp", "Wed, 25 Nov 2026 10:21:05 +0900", "%s <sato.yuki@example.co.jp>" % encoded_words("佐藤 由紀", "iso-2022-jp"),
          encoded_words("パスワードを間違えてアカウントがロックされました", "iso-2022-jp"), "jp-locked-7781", """\
ヘルプデスク御中

パスワードを何度か間違えてしまい、アカウントがロックされました。
ロックの解除をお願いできますでしょうか。

東京オフィス 営業部
佐藤 由紀
""", charset="iso-2022-jp", cte="7bit", crlf=True)
    plain("password-reset-ja-shiftjis", "Wed, 25 Nov 2026 11:02:44 +0900", "%s <tanaka.ken@example.co.jp>" % encoded_words("田中 健", "shift_jis"),
          encoded_words("パスワードのリセットをお願いします", "shift_jis"), "jp-sjis-pw-0042", """\
お疲れ様です。

パスワードを忘れてしまいました。
リセットをお願いいたします。

田中
""", charset="shift_jis", cte="base64")
    plain("password-reset-fr-windows1252", "Wed, 25 Nov 2026 09:15:00 +0100", '"=?windows-1252?Q?Am=E9lie_Durand?=" <amelie.durand@example.fr>',
          encoded_words("Réinitialisation du mot de passe", "windows-1252", "Q"), "fr.pw.8812", """\
Bonjour,

Je n’arrive plus à me connecter à ma session… J’ai oublié mon mot de passe.
Pourriez-vous le réinitialiser, s’il vous plaît ?

Cordialement,
Amélie Durand – Comptabilité
""", charset="windows-1252", cte="quoted-printable", crlf=True)
    plain("password-reset-es-base64", "Wed, 25 Nov 2026 12:40:31 +0100", '"=?utf-8?Q?Luc=C3=ADa_Fern=C3=A1ndez?=" <lucia.fernandez@example.es>',
          encoded_words("No puedo iniciar sesión: restablecer contraseña", "utf-8"), "es-pw-5521", """\
Hola:

Olvidé mi contraseña y no puedo iniciar sesión en el portátil.
¿Podrían restablecerla, por favor?

Gracias,
Lucía
""", charset="utf-8", cte="base64")
    plain("password-reset-ko-euckr", "Thu, 26 Nov 2026 09:30:00 +0100", "%s <kim.minji@example.kr>" % encoded_words("김민지", "euc-kr"),
          encoded_words("비밀번호 재설정 요청", "euc-kr"), "kr-pw-3310", """\
안녕하세요,

비밀번호를 잊어버려서 로그인할 수 없습니다.
재설정 부탁드립니다.

김민지 드림
""", charset="euc-kr", cte="8bit")
    plain("account-locked-en", "Thu, 26 Nov 2026 08:05:10 +0100", '"Priya Nair" <priya.nair@example.com>',
          "Account locked out after too many attempts", "locked-en-1200", """\
Hello,

My account is locked out - I typed the old password on my phone
and now I cannot sign in anywhere. Please unlock it.

Priya
""", cte="7bit", crlf=True)

    # --- L1: printers -----------------------------------------------------
    plain("printer-jam", "Tue, 24 Nov 2026 10:12:00 +0100", '"Mark Evans" <mark.evans@example.com>',
          "Printer on 3rd floor keeps jamming", "printer-3f-001", """\
Hi,

the printer next to the kitchen on the 3rd floor (PRN-3F-02) has a paper jam
in tray 2 again. I opened every door but cannot see the sheet.

Mark
""")
    plain("printer-zh-gb18030", "Tue, 24 Nov 2026 14:20:00 +0100", "%s <wang.lei@example.cn>" % encoded_words("王磊", "gb18030"),
          encoded_words("三楼打印机卡纸", "gb18030"), "cn-printer-77", """\
你好，

三楼的打印机一直卡纸，无法打印合同。
请尽快派人处理。

谢谢！
王磊
""", charset="gb18030", cte="base64")
    shot_name = "Bildschirmfoto 2026-11-24 um 10.15.02 – Drucker.png"
    shot_2231 = "".join(
        c if (c.isascii() and (c.isalnum() or c in "-._")) else "".join("%%%02X" % b for b in c.encode("utf-8"))
        for c in shot_name
    )
    mime_mail(
        "printer-screenshot-rfc2231", "Tue, 24 Nov 2026 10:16:30 +0100", '"Sabine Wolf" <sabine.wolf@example.com>', encoded_words("Drucker im 2. OG druckt nur leere Seiten", "utf-8", "Q"), "de-drucker-shot-19",
        'multipart/mixed; boundary="----=_Part_19_shot"',
        [
        "\nThis is a multi-part message in MIME format.\n",
        "------=_Part_19_shot\n",
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n",
        body_bytes(
            "Hallo IT,\n\nder Drucker im 2. OG (PRN-2OG-01) druckt seit heute früh nur leere Seiten.\n"
            "Im Anhang ein Bildschirmfoto der Fehlermeldung.\n\nGruß\nSabine\n",
            "utf-8",
            "quoted-printable",
        ),
        "------=_Part_19_shot\n",
        "Content-Type: image/png\n",
        "Content-Transfer-Encoding: base64\n",
        "Content-Disposition: attachment;\n filename*=UTF-8''%s\n\n" % shot_2231,
        base64.encodebytes(TINY_PNG),
        "------=_Part_19_shot--\n",
        ],
    )

    # --- L1: hardware, software, mail setup --------------------------------
    plain("laptop-replacement", "Wed, 25 Nov 2026 13:05:00 +0100", '"Oliver Grant" <oliver.grant@example.com>',
          "Request: replacement laptop, battery lasts 20 minutes", "hw-laptop-311", """\
Hi team,

my laptop (asset EX-NB-2291, bought 2021) only lasts about 20 minutes on
battery now. Could I get a new laptop or at least a new battery?
No rush, I mostly work at the docking station.

Oliver
""")
    html = (
        "<html xmlns:o=\"urn:schemas-microsoft-com:office:office\">\n"
        "<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\">\n"
        "<style><!--\n/* Font Definitions */\n@font-face {font-family:Calibri;}\n"
        "/* Style Definitions */\np.MsoNormal, li.MsoNormal, div.MsoNormal\n"
        "\t{margin:0cm; font-size:11.0pt; font-family:\"Calibri\",sans-serif;}\n"
        "a:link, span.MsoHyperlink {color:#0563C1; text-decoration:underline;}\n"
        "@page WordSection1 {size:612.0pt 792.0pt;}\n--></style>\n</head>\n"
        "<body lang=\"DE\" link=\"#0563C1\"><div class=\"WordSection1\">\n"
        "<p class=\"MsoNormal\">Hallo IT-Team,<o:p></o:p></p>\n"
        "<p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>\n"
        "<p class=\"MsoNormal\">k&ouml;nntet ihr mir bitte <b>Adobe Acrobat Pro</b> installieren? "
        "Ich muss Vertr&auml;ge f&uuml;r die Gesch&auml;ftsf&uuml;hrung &amp; den Betriebsrat "
        "signieren &#8211; die Lizenz ist genehmigt (Ticket der Beschaffung liegt vor).<o:p></o:p></p>\n"
        "<p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>\n"
        "<p class=\"MsoNormal\">Danke &amp; Gru&szlig;<br>Petra Hoffmann<o:p></o:p></p>\n"
        "</div></body></html>\n"
    )
    plain("software-install-html-outlook", "Wed, 25 Nov 2026 15:44:10 +0100", '"Hoffmann, Petra" <petra.hoffmann@example.com>',
          "Software-Installation: Adobe Acrobat Pro", "<AM0PR04MB6420B1C2D3E4F5A6@AM0PR04MB6420.eurprd04.prod.outlook.com>", html, to='"IT Helpdesk" <helpdesk@example.com>', extra=dict(X_MS_Has_Attach="", X_MS_TNEF_Correlator="", Content_Language="de-DE"), charset="windows-1252", cte="quoted-printable", subtype="html", crlf=True)
    plain("software-install-visio", "Thu, 26 Nov 2026 11:11:11 +0100", '"Nina Kowalski" <nina.kowalski@example.com>',
          "Please install Visio on my PC", "sw-visio-90", """\
Hello,

could you please install Microsoft Visio on my PC (EX-PC-1182)?
My manager approved the license request yesterday.

Nina
""")
    plain("mail-setup-iphone", "Thu, 26 Nov 2026 16:02:00 +0100", '"Carlos Mendes" <carlos.mendes@example.com>',
          "Set up Outlook on my new iPhone", "mail-iphone-12", """\
Hi,

I got a new company iPhone. How do I set up Outlook and my email on it?
The app asks for a server name and I don't know what to enter.

Carlos
""", crlf=True)

    # --- L2: network -------------------------------------------------------
    plain("vpn-down", "Tue, 24 Nov 2026 09:40:00 +0100", '"Hannah Lee" <hannah.lee@example.com>',
          "VPN keeps disconnecting when working from home", "vpn-home-48", """\
Hi,

since Monday my VPN connection drops every 10-15 minutes when I work from home.
I already restarted the laptop and my router. The client shows
"The VPN connection was terminated by the gateway".

Hannah
""", cte="quoted-printable")
    plain("vpn-ru-koi8r", "Tue, 24 Nov 2026 10:55:00 +0300", "%s <ivan.petrov@example.ru>" % encoded_words("Иван Петров", "koi8-r"),
          encoded_words("Не работает VPN из дома", "koi8-r"), "ru-vpn-2024", """\
Здравствуйте!

С утра не могу подключиться к VPN из дома, клиент пишет ошибку 809.
Перезагрузка не помогла.

С уважением,
Иван Петров
""", charset="koi8-r", cte="8bit", crlf=True)
    plain("dns-failure", "Wed, 25 Nov 2026 08:31:00 +0100", '"Stefan Braun" <stefan.braun@example.com>',
          "intranet.example.com not resolving", "dns-intranet-5", """\
Morning,

Chrome shows DNS_PROBE_FINISHED_NXDOMAIN for intranet.example.com since
about 8:15. nslookup from my PC times out against 10.0.0.53. Other sites work.
Looks like a DNS problem on our side.

Stefan
""")
    plain("wifi-meeting-room", "Wed, 25 Nov 2026 14:00:00 +0100", '"Grace Kim" <grace.kim@example.com>',
          "Wi-Fi in meeting room Rhein keeps dropping", "wifi-rhein-3", """\
Hi,

the WiFi in meeting room Rhein (building B) drops every few minutes,
guests and our laptops alike. Other rooms are fine.

Grace
""")
    plain("packet-loss", "Thu, 26 Nov 2026 10:30:00 +0100", '"Ahmed Hassan" <ahmed.hassan@example.com>',
          "Heavy packet loss to Munich office", "net-muc-loss-9", """\
Hi,

Teams calls with the Munich office keep freezing. A ping to muc-gw01 shows
around 30% packet loss, traceroute attached below.

 1  10.1.0.1   1 ms
 2  10.255.0.9   18 ms
 3  * * *
 4  10.20.0.1  95 ms

Ahmed
""", crlf=True)

    # --- L2: permissions, directory ----------------------------------------
    plain("share-access-denied", "Thu, 26 Nov 2026 09:12:00 +0100", '"Laura Becker" <laura.becker@example.com>',
          "Access denied on finance share", "share-fin-17", """\
Hello,

when I open \\\\fs01\\finance\\2026\\Q4 I get "Access is denied".
I moved from Controlling to Finance this month and need read/write access.

Laura
""")
    plain("ad-group-membership", "Thu, 26 Nov 2026 13:37:00 +0100", '"Daniel Schmitt" <daniel.schmitt@example.com>',
          "Add me to AD group SG-Finance-Reports", "ad-group-23", """\
Hi,

please add my account (dschmitt) to the Active Directory group
SG-Finance-Reports so I can open the Power BI reports. My manager Ulla Krause
is in CC and approves.

Thanks,
Daniel
""")
    mime_mail(
        "onboarding-multipart-alternative", "Fri, 27 Nov 2026 09:00:00 +0100", '"HR Team" <hr@example.com>', "New employee starting 1 December: accounts for Jana Novak", "hr-onboard-1201",
        'multipart/alternative; boundary="alt-b1"',
        [
        "\n--alt-b1\n",
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n",
        "Hello IT,\n\nnew employee Jana Novak starts on 1 December in Finance.\n"
        "Please create her user account, mailbox and the usual Finance group memberships.\n\n"
        "HR Team\n",
        "--alt-b1\n",
        "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n",
        "<html><body><p>Hello IT,</p><p>new employee <b>Jana Novak</b> starts on 1 December "
        "in Finance.<br>Please create her user account, mailbox and the usual Finance group "
        "memberships.</p><p>HR Team</p></body></html>\n",
        "--alt-b1--\n",
        ],
        cc='"Ulla Krause" <ulla.krause@example.com>',
        crlf=False,
    )

    # --- L3: security ------------------------------------------------------
    phish = (
        "Return-Path: <bounce@micros0ft-support.com>\n"
        "From: \"Microsoft 365\" <no-reply@micros0ft-support.com>\n"
        "To: anna.schulz@example.com\n"
        "Subject: Your mailbox is almost full - verify your account\n"
        "Date: Thu, 26 Nov 2026 07:58:00 +0000\n"
        "Message-ID: <8f2a1c@micros0ft-support.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/html; charset=us-ascii\n\n"
        "<html><body><p>Your mailbox has reached 99% of its quota.</p>\n"
        "<p><a href=\"http://micros0ft-support.com/verify?u=anna.schulz\">Verify your account now</a>"
        " or lose access within 24 hours.</p></body></html>\n"
    )
    mime_mail(
        "phishing-report-forwarded", "Thu, 26 Nov 2026 08:20:00 +0100", '"Anna Schulz" <anna.schulz@example.com>', "FW: Your mailbox is almost full - verify your account", "fw-phish-777",
        'multipart/mixed; boundary="fwd-777"',
        [
        "\n--fwd-777\n",
        "Content-Type: text/plain; charset=utf-8\n\n",
        "Hi IT,\n\nI got the attached mail this morning. The sender address looks fake and\n"
        "I think this is phishing. I did not click the link.\n\nAnna\n",
        "--fwd-777\n",
        "Content-Type: message/rfc822\n",
        "Content-Disposition: attachment; filename=\"Your mailbox is almost full.eml\"\n\n",
        phish,
        "--fwd-777--\n",
        ],
    )
    plain("ransomware-note", "Fri, 27 Nov 2026 11:48:00 +0100", '"Felix Wagner" <felix.wagner@example.com>',
          "All my files renamed to .locked - strange text file on desktop", "sec-ransom-1", """\
HELP

all files in my Documents folder and on the S: drive now end in .locked
and there is a file README_RESTORE_FILES.txt on my desktop saying they are encrypted
and I have to pay 2 Bitcoin for the key. It looks like a ransom note.
I have not turned off the PC.

Felix (ext. 4120)
""")
    plain("suspicious-login-alert", "Fri, 27 Nov 2026 06:12:00 +0100", '"Microsoft Entra ID" <security-noreply@example.com>',
          "Unusual sign-in activity for j.doe@example.com", "entra-alert-5512", """\
We detected a suspicious login to the account j.doe@example.com.

Country/region: Russia
IP address: 185.220.101.47
Date: 2026-11-27 05:58 UTC
Platform: Linux
Browser: Firefox

If this wasn't the user, the account may be compromised.
""", crlf=True)

    # --- L3: outages and defects -------------------------------------------
    plain("production-down", "Thu, 26 Nov 2026 14:05:00 +0100", '"Ops Monitoring" <noc@example.com>',
          "URGENT: production down - webshop returns 502", "noc-prod-502", """\
Production is down: https://shop.example.com returns 502 Bad Gateway for all
customers since 13:58. Load balancer health checks fail on all four app nodes.
Orders are not being taken.
""")
    mime_mail(
        "vendor-defect-0x80070005", "Wed, 25 Nov 2026 10:00:00 +0100", '"Bernd Keller" <bernd.keller@example.com>', "Backup agent fails with 0x80070005 after vendor update", "backup-defect-3",
        'multipart/mixed; boundary="b-log-3"',
        [
        "\n--b-log-3\n",
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n",
        body_bytes(
            "Hi,\n\nsince the vendor's update to agent 12.3.1 last night, every backup job on\n"
            "FS01 and FS02 fails with error 0x80070005 (access denied on VSS writer).\n"
            "Rolling back to 12.2 fixes it, so this looks like a bug in the new release.\n"
            "Vendor support case is open (#SR-99812). Full job log attached.\n\nBernd\n",
            "utf-8",
            "quoted-printable",
        ),
        "--b-log-3\n",
        "Content-Type: text/plain; charset=utf-8; name*=UTF-8''Sicherungsprotokoll_M%C3%BCller.log\n",
        "Content-Transfer-Encoding: base64\n",
        "Content-Disposition: attachment;\n filename*=UTF-8''Sicherungsprotokoll_M%C3%BCller.log\n\n",
        base64.encodebytes(
            "2026-11-25 01:00:02 Job FS01-nightly started\n"
            "2026-11-25 01:00:09 ERROR VSS snapshot failed: 0x80070005 Access is denied\n"
            "2026-11-25 01:00:09 Job FS01-nightly failed\n".encode("utf-8")
        ),
        "--b-log-3--\n",
        ],
        crlf=False,
    )

    # --- adjustments: VIP, after hours -------------------------------------
    plain("vip-ceo-outlook", "Fri, 27 Nov 2026 10:20:00 +0100", '"Eva Schneider" <ceo@example.com>',
          "Outlook on my iPad stopped syncing", "ceo-ipad-1", """\
Hi,

Outlook on my iPad has not synced any new mail since this morning.
I need it for the board meeting at 14:00.

Eva

Sent from my iPad
""")
    plain("after-hours-outage", "Tue, 24 Nov 2026 23:30:00 +0100", '"Night Shift Lead" <shift.lead@example.com>',
          "ERP not reachable for all users - night shift blocked", "night-erp-down", """\
Hello,

since 23:10 SAP ERP is not reachable for all users in the warehouse.
Outage affects picking and shipping, the trucks are waiting.

Night shift lead
""", crlf=True)

    # --- mail that must not become a ticket --------------------------------
    plain("auto-reply", "Tue, 24 Nov 2026 10:12:05 +0100", '"Mark Evans" <mark.evans@example.com>',
          "Auto: Re: [#48190] Printer on 3rd floor keeps jamming", "autoreply-99", """\
I am out of the office until 30 November with no access to e-mail.
For urgent printer issues please call the front desk.
""", extra=dict(Auto_Submitted="auto-replied", Precedence="auto_reply"))
    plain("out-of-office-outlook", "Wed, 25 Nov 2026 09:00:30 +0100", '"Schulz, Anna" <anna.schulz@example.com>',
          "Automatic reply: Your password expires in 3 days", "<DB9PR04MB8412E1F2A3B4C5D6@DB9PR04MB8412.eurprd04.prod.outlook.com>", """\
Thank you for your message. I am on parental leave until January and will
not read e-mail. For urgent matters please contact finance@example.com.
""", to='"IT Helpdesk" <helpdesk@example.com>', extra=dict(X_Auto_Response_Suppress="All", X_MS_Exchange_Inbox_Rules_Loop="anna.schulz@example.com", Thread_Topic="Your password expires in 3 days"), crlf=True)
    write(
        "bounce-dsn",
        [
            headers(
                Date="Thu, 26 Nov 2026 12:00:03 +0100 (CET)",
                From="MAILER-DAEMON@mail.example.com (Mail Delivery System)",
                To="helpdesk@example.com",
                Subject="Undelivered Mail Returned to Sender",
                Message_ID="<20261126110003.4F2C1E0123@mail.example.com>",
                Auto_Submitted="auto-replied",
                MIME_Version="1.0",
                Content_Type='multipart/report; report-type=delivery-status;\n boundary="4F2C1E0123.1764154803/mail.example.com"',
            ),
            "\nThis is a MIME-encapsulated message.\n\n",
            "--4F2C1E0123.1764154803/mail.example.com\n",
            "Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n",
            "This is the mail system at host mail.example.com.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            "<old.user@example.com>: host mx.example.com[10.0.0.25] said: 550 5.1.1\n"
            "    <old.user@example.com>: Recipient address rejected: User unknown\n",
            "\n--4F2C1E0123.1764154803/mail.example.com\n",
            "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n",
            "Reporting-MTA: dns; mail.example.com\n"
            "Arrival-Date: Thu, 26 Nov 2026 12:00:01 +0100 (CET)\n\n"
            "Final-Recipient: rfc822; old.user@example.com\n"
            "Action: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <old.user@example.com>: Recipient address\n"
            "    rejected: User unknown\n",
            "\n--4F2C1E0123.1764154803/mail.example.com\n",
            "Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n",
            "From: helpdesk@example.com\nTo: old.user@example.com\n"
            "Subject: [#48177] Your password reset is complete\n"
            "Date: Thu, 26 Nov 2026 12:00:00 +0100\n",
            "\n--4F2C1E0123.1764154803/mail.example.com--\n",
        ],
    )
    plain("newsletter-list", "Mon, 23 Nov 2026 07:00:00 +0100", '"IT News" <it-news@lists.example.com>',
          "[IT News] November: new VPN client rollout and phishing awareness week", "itnews-2026-11", """\
This month: the new VPN client rolls out to all laptops, and phishing
awareness week starts on 30 November. Outage window for the file servers:
Saturday 05:00-07:00.
""", to="it-news@lists.example.com", extra=dict(List_Id='"IT News" <it-news.lists.example.com>', List_Unsubscribe="<mailto:it-news-unsubscribe@lists.example.com>", Precedence="list"), crlf=True)
    plain("ticket-reply-subject", "Wed, 25 Nov 2026 09:10:00 +0100", '"Hannah Lee" <hannah.lee@example.com>',
          "Re: [#48213] VPN keeps disconnecting when working from home", "vpn-home-49", """\
Hi,

the new client version did not help, the VPN still drops.

Hannah

> We have updated your VPN profile, please try again.
""", extra=dict(In_Reply_To="<ticket.48213.1764000000@helpdesk.example.com>", References="<vpn-home-48@mail.example.com> <ticket.48213.1764000000@helpdesk.example.com>"))
    plain("ticket-reply-in-reply-to", "Wed, 25 Nov 2026 11:45:00 +0100", '"Tom Baker" <tom.baker@example.com>',
          "Re: your request", "pw-en-followup", """\
Thanks, the new password works. You can close the ticket.

Tom
""", extra=dict(In_Reply_To="<ticket.48220.1764061000@helpdesk.example.com>", References="<ticket.48220.1764061000@helpdesk.example.com>"))

    format_examples()


def mime_mail(name, date, frm, subject, mid, content_type, parts, to="helpdesk@example.com", cc=None, crlf=True, **extra):
    """A MIME mail of the given parts with mail_headers, CRLF line ends
    unless crlf is false; extra headers go before Content-Type."""
    hdr = mail_headers(date, frm, to, subject, mid, cc, MIME_Version="1.0", **extra, Content_Type=content_type)
    write(name, [hdr] + parts, crlf)


def format_examples():
    """Mail in the formats besides plain MIME: an inline-forwarded phishing
    report (Outlook), an Exchange bounce, PGP/MIME encrypted mail, a
    meeting-room invitation, a winmail.dat, and a signature logo."""
    plain("phishing-forwarded-inline-outlook", "Fri, 27 Nov 2026 08:05:00 +0100", '"Jonas Berg" <jonas.berg@example.com>',
          "FW: Action required: your mailbox quota", "fw-inline-phish-12", """\
Hi, is this phishing? The link goes somewhere odd.

Jonas

________________________________
From: IT Service Desk <it-desk@example-mailbox.info>
Sent: Friday, November 27, 2026 7:41 AM
To: Jonas Berg <jonas.berg@example.com>
Subject: Action required: your mailbox quota

Your mailbox is full. Sign in within 24 hours to keep receiving mail.
""")
    original = ("From: Ann Example <ann@example.com>\nTo: former.employee@example.com\n"
                "Subject: Laptop return\nDate: Fri, 27 Nov 2026 09:10:00 +0100\n"
                "Message-ID: <laptop-return-3@mail.example.com>\n\nPlease return your laptop.\n")
    mime_mail(
        "bounce-unknown-recipient-exchange", "Fri, 27 Nov 2026 09:10:05 +0100", "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com>", "Undeliverable: Laptop return", "ndr-laptop-return-3",
        'multipart/report; report-type=delivery-status; boundary="ndr-1"',
        [
        "\n--ndr-1\nContent-Type: text/plain; charset=us-ascii\n\n",
        "Your message to former.employee@example.com couldn't be delivered.\n",
        "former.employee wasn't found at example.com.\n",
        "--ndr-1\nContent-Type: message/delivery-status\n\n",
        "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com\n\n",
        "Original-Recipient: rfc822;former.employee@example.com\n",
        "Final-Recipient: rfc822;former.employee@example.com\nAction: failed\nStatus: 5.1.10\n",
        "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup\n\n",
        "--ndr-1\nContent-Type: message/rfc822\n\n",
        original,
        "\n--ndr-1--\n",
        ],
        to="Ann Example <ann@example.com>",
        Auto_Submitted="auto-replied",
    )
    mime_mail(
        "encrypted-pgp", "Fri, 27 Nov 2026 10:30:00 +0100", '"Legal Department" <legal@example.com>', "...", "pgp-legal-5",
        'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="pgp-5"',
        [
        "\nThis is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\n",
        "--pgp-5\nContent-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version identification\n\n",
        "Version: 1\n\n",
        "--pgp-5\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\n",
        "Content-Disposition: inline; filename=\"encrypted.asc\"\n\n",
        "-----BEGIN PGP MESSAGE-----\n\njA0ECQMC8w0Hq7yQ4cn/0kcBbCpE5nJpJ0sZ0z3m9WXq3n2iYtqk0v8HcZl1bJ6M\n",
        "=Qv0x\n-----END PGP MESSAGE-----\n\n--pgp-5--\n",
        ],
    )
    ics = gen_formats.OUTLOOK_ICS.replace("Vorstandssitzung\\, Raum 4.12 – Beamer prüfen", "Projector in room 4.12 shows no picture")
    ics = ics.replace("SUMMARY;LANGUAGE=de-DE:", "SUMMARY;LANGUAGE=en-US:")
    mime_mail(
        "meeting-room-invite", "Fri, 27 Nov 2026 08:14:03 +0100", '"Facility Management" <facility@example.com>', "Projector in room 4.12 shows no picture", "invite-room-412",
        'multipart/alternative; boundary="inv-412"',
        [
        "\n--inv-412\nContent-Type: text/plain; charset=utf-8\n\n",
        "Board meeting on Tuesday; please check the projector before.\n",
        "--inv-412\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\nContent-Transfer-Encoding: base64\n\n",
        base64.encodebytes(ics.replace("\n", "\r\n").encode()),
        "--inv-412--\n",
        ],
    )
    crash = b"2026-11-27 09:01:02 FATAL OUTLOOK.EXE 0x80004005 faulting module mso.dll\n" * 20
    tnef = gen_formats.tnef(
        "Hello,\n\nOutlook crashes with error 0x80004005 every time I open a shared calendar.\nLog attached.\n\nMarta",
        [("OUTLOO~1.LOG", "outlook-crash.log", "text/plain", crash)],
    )
    mime_mail(
        "outlook-winmail", "Fri, 27 Nov 2026 09:20:00 +0100", '"Marta Nowak" <marta.nowak@example.com>', "Outlook crashes when opening shared calendar", "winmail-marta-1",
        'multipart/mixed; boundary="_000_winmail_"',
        [
        "\n--_000_winmail_\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\n",
        "Content-Disposition: attachment; filename=\"winmail.dat\"\nContent-Transfer-Encoding: base64\n\n",
        base64.encodebytes(tnef),
        "--_000_winmail_--\n",
        ],
    )
    mime_mail(
        "password-reset-signature-logo", "Fri, 27 Nov 2026 09:40:00 +0100", '"Paul Weber" <paul.weber@example.com>', "Forgot my password", "pw-logo-9",
        'multipart/related; boundary="rel-9"; type="text/html"',
        [
        "\n--rel-9\nContent-Type: text/html; charset=utf-8\n\n",
        "<html><body><p>Hello, I forgot my password and cannot log in.</p>",
        "<p>Paul Weber<br><img src=\"cid:logo@example.com\" alt=\"Example Corp\"></p></body></html>\n",
        "--rel-9\nContent-Type: image/png; name=\"logo.png\"\nContent-ID: <logo@example.com>\n",
        "Content-Transfer-Encoding: base64\n\n",
        base64.encodebytes(gen_formats.png(4000)),
        "--rel-9--\n",
        ],
    )


if __name__ == "__main__":
    main()
