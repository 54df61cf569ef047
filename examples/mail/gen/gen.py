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


TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def main():
    # --- L1: passwords -----------------------------------------------------
    simple(
        "password-reset-en",
        headers(
            Date="Tue, 24 Nov 2026 08:47:12 +0100",
            From='"Tom Baker" <tom.baker@example.com>',
            To="IT Helpdesk <helpdesk@example.com>",
            Subject="Forgot my password - cannot log in to Windows",
            Message_ID=msgid("CAF1a2b3-pw-en"),
        ),
        "Hi IT,\n\nI came back from holiday and I have forgotten my password.\n"
        "Windows says the password is incorrect and I cannot log in.\n"
        "Could you please reset it? I am at my desk, room 2.14, ext. 4417.\n\n"
        "Thanks,\nTom\n",
        crlf=True,
    )
    simple(
        "password-reset-de-iso8859-15",
        headers(
            Date="Tue, 24 Nov 2026 09:03:40 +0100",
            From='=?iso-8859-15?Q?J=FCrgen_M=FCller?= <juergen.mueller@example.com>',
            To="helpdesk@example.com",
            Subject=encoded_words("Passwort abgelaufen, Anmeldung schlägt fehl", "iso-8859-15", "Q"),
            Message_ID=msgid("20261124090340.pw-de"),
        ),
        "Hallo zusammen,\n\nmein Passwort ist heute abgelaufen und ich kann es nicht "
        "selbst ändern,\ndie Anmeldung am Rechner schlägt mit \"Kennwort falsch\" fehl.\n"
        "Könnt ihr es bitte zurücksetzen?\n\nKostenstelle 4711, Einkauf (Budget 250 €)\n\n"
        "Viele Grüße\nJürgen Müller\n",
        charset="iso-8859-15",
        cte="quoted-printable",
    )
    simple(
        "account-locked-ja-iso2022jp",
        headers(
            Date="Wed, 25 Nov 2026 10:21:05 +0900",
            From="%s <sato.yuki@example.co.jp>" % encoded_words("佐藤 由紀", "iso-2022-jp"),
            To="helpdesk@example.com",
            Subject=encoded_words("パスワードを間違えてアカウントがロックされました", "iso-2022-jp"),
            Message_ID=msgid("jp-locked-7781"),
        ),
        "ヘルプデスク御中\n\n"
        "パスワードを何度か間違えてしまい、アカウントがロックされました。\n"
        "ロックの解除をお願いできますでしょうか。\n\n"
        "東京オフィス 営業部\n佐藤 由紀\n",
        charset="iso-2022-jp",
        cte="7bit",
        crlf=True,
    )
    simple(
        "password-reset-ja-shiftjis",
        headers(
            Date="Wed, 25 Nov 2026 11:02:44 +0900",
            From="%s <tanaka.ken@example.co.jp>" % encoded_words("田中 健", "shift_jis"),
            To="helpdesk@example.com",
            Subject=encoded_words("パスワードのリセットをお願いします", "shift_jis"),
            Message_ID=msgid("jp-sjis-pw-0042"),
        ),
        "お疲れ様です。\n\nパスワードを忘れてしまいました。\n"
        "リセットをお願いいたします。\n\n田中\n",
        charset="shift_jis",
        cte="base64",
    )
    simple(
        "password-reset-fr-windows1252",
        headers(
            Date="Wed, 25 Nov 2026 09:15:00 +0100",
            From='"=?windows-1252?Q?Am=E9lie_Durand?=" <amelie.durand@example.fr>',
            To="helpdesk@example.com",
            Subject=encoded_words("Réinitialisation du mot de passe", "windows-1252", "Q"),
            Message_ID=msgid("fr.pw.8812"),
        ),
        "Bonjour,\n\nJe n’arrive plus à me connecter à ma session… "
        "J’ai oublié mon mot de passe.\nPourriez-vous le réinitialiser, s’il vous plaît ?\n\n"
        "Cordialement,\nAmélie Durand – Comptabilité\n",
        charset="windows-1252",
        cte="quoted-printable",
        crlf=True,
    )
    simple(
        "password-reset-es-base64",
        headers(
            Date="Wed, 25 Nov 2026 12:40:31 +0100",
            From='"=?utf-8?Q?Luc=C3=ADa_Fern=C3=A1ndez?=" <lucia.fernandez@example.es>',
            To="helpdesk@example.com",
            Subject=encoded_words("No puedo iniciar sesión: restablecer contraseña", "utf-8"),
            Message_ID=msgid("es-pw-5521"),
        ),
        "Hola:\n\nOlvidé mi contraseña y no puedo iniciar sesión en el portátil.\n"
        "¿Podrían restablecerla, por favor?\n\nGracias,\nLucía\n",
        charset="utf-8",
        cte="base64",
    )
    simple(
        "password-reset-ko-euckr",
        headers(
            Date="Thu, 26 Nov 2026 09:30:00 +0100",
            From="%s <kim.minji@example.kr>" % encoded_words("김민지", "euc-kr"),
            To="helpdesk@example.com",
            Subject=encoded_words("비밀번호 재설정 요청", "euc-kr"),
            Message_ID=msgid("kr-pw-3310"),
        ),
        "안녕하세요,\n\n비밀번호를 잊어버려서 로그인할 수 없습니다.\n"
        "재설정 부탁드립니다.\n\n김민지 드림\n",
        charset="euc-kr",
        cte="8bit",
    )
    simple(
        "account-locked-en",
        headers(
            Date="Thu, 26 Nov 2026 08:05:10 +0100",
            From='"Priya Nair" <priya.nair@example.com>',
            To="helpdesk@example.com",
            Subject="Account locked out after too many attempts",
            Message_ID=msgid("locked-en-1200"),
        ),
        "Hello,\n\nMy account is locked out - I typed the old password on my phone\n"
        "and now I cannot sign in anywhere. Please unlock it.\n\nPriya\n",
        cte="7bit",
        crlf=True,
    )

    # --- L1: printers -----------------------------------------------------
    simple(
        "printer-jam",
        headers(
            Date="Tue, 24 Nov 2026 10:12:00 +0100",
            From='"Mark Evans" <mark.evans@example.com>',
            To="helpdesk@example.com",
            Subject="Printer on 3rd floor keeps jamming",
            Message_ID=msgid("printer-3f-001"),
        ),
        "Hi,\n\nthe printer next to the kitchen on the 3rd floor (PRN-3F-02) has a paper jam\n"
        "in tray 2 again. I opened every door but cannot see the sheet.\n\nMark\n",
    )
    simple(
        "printer-zh-gb18030",
        headers(
            Date="Tue, 24 Nov 2026 14:20:00 +0100",
            From="%s <wang.lei@example.cn>" % encoded_words("王磊", "gb18030"),
            To="helpdesk@example.com",
            Subject=encoded_words("三楼打印机卡纸", "gb18030"),
            Message_ID=msgid("cn-printer-77"),
        ),
        "你好，\n\n三楼的打印机一直卡纸，无法打印合同。\n请尽快派人处理。\n\n谢谢！\n王磊\n",
        charset="gb18030",
        cte="base64",
    )
    shot_name = "Bildschirmfoto 2026-11-24 um 10.15.02 – Drucker.png"
    shot_2231 = "".join(
        c if (c.isascii() and (c.isalnum() or c in "-._")) else "".join("%%%02X" % b for b in c.encode("utf-8"))
        for c in shot_name
    )
    write(
        "printer-screenshot-rfc2231",
        [
            headers(
                Date="Tue, 24 Nov 2026 10:16:30 +0100",
                From='"Sabine Wolf" <sabine.wolf@example.com>',
                To="helpdesk@example.com",
                Subject=encoded_words("Drucker im 2. OG druckt nur leere Seiten", "utf-8", "Q"),
                Message_ID=msgid("de-drucker-shot-19"),
                MIME_Version="1.0",
                Content_Type='multipart/mixed; boundary="----=_Part_19_shot"',
            ),
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
        crlf=True,
    )

    # --- L1: hardware, software, mail setup --------------------------------
    simple(
        "laptop-replacement",
        headers(
            Date="Wed, 25 Nov 2026 13:05:00 +0100",
            From='"Oliver Grant" <oliver.grant@example.com>',
            To="helpdesk@example.com",
            Subject="Request: replacement laptop, battery lasts 20 minutes",
            Message_ID=msgid("hw-laptop-311"),
        ),
        "Hi team,\n\nmy laptop (asset EX-NB-2291, bought 2021) only lasts about 20 minutes on\n"
        "battery now. Could I get a new laptop or at least a new battery?\n"
        "No rush, I mostly work at the docking station.\n\nOliver\n",
    )
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
    simple(
        "software-install-html-outlook",
        headers(
            Date="Wed, 25 Nov 2026 15:44:10 +0100",
            From='"Hoffmann, Petra" <petra.hoffmann@example.com>',
            To='"IT Helpdesk" <helpdesk@example.com>',
            Subject="Software-Installation: Adobe Acrobat Pro",
            Message_ID="<AM0PR04MB6420B1C2D3E4F5A6@AM0PR04MB6420.eurprd04.prod.outlook.com>",
            X_MS_Has_Attach="",
            X_MS_TNEF_Correlator="",
            Content_Language="de-DE",
        ),
        html,
        charset="windows-1252",
        cte="quoted-printable",
        subtype="html",
        crlf=True,
    )
    simple(
        "software-install-visio",
        headers(
            Date="Thu, 26 Nov 2026 11:11:11 +0100",
            From='"Nina Kowalski" <nina.kowalski@example.com>',
            To="helpdesk@example.com",
            Subject="Please install Visio on my PC",
            Message_ID=msgid("sw-visio-90"),
        ),
        "Hello,\n\ncould you please install Microsoft Visio on my PC (EX-PC-1182)?\n"
        "My manager approved the license request yesterday.\n\nNina\n",
    )
    simple(
        "mail-setup-iphone",
        headers(
            Date="Thu, 26 Nov 2026 16:02:00 +0100",
            From='"Carlos Mendes" <carlos.mendes@example.com>',
            To="helpdesk@example.com",
            Subject="Set up Outlook on my new iPhone",
            Message_ID=msgid("mail-iphone-12"),
        ),
        "Hi,\n\nI got a new company iPhone. How do I set up Outlook and my email on it?\n"
        "The app asks for a server name and I don't know what to enter.\n\nCarlos\n",
        crlf=True,
    )

    # --- L2: network -------------------------------------------------------
    simple(
        "vpn-down",
        headers(
            Date="Tue, 24 Nov 2026 09:40:00 +0100",
            From='"Hannah Lee" <hannah.lee@example.com>',
            To="helpdesk@example.com",
            Subject="VPN keeps disconnecting when working from home",
            Message_ID=msgid("vpn-home-48"),
        ),
        "Hi,\n\nsince Monday my VPN connection drops every 10-15 minutes when I work from home.\n"
        "I already restarted the laptop and my router. The client shows\n"
        "\"The VPN connection was terminated by the gateway\".\n\nHannah\n",
        cte="quoted-printable",
    )
    simple(
        "vpn-ru-koi8r",
        headers(
            Date="Tue, 24 Nov 2026 10:55:00 +0300",
            From="%s <ivan.petrov@example.ru>" % encoded_words("Иван Петров", "koi8-r"),
            To="helpdesk@example.com",
            Subject=encoded_words("Не работает VPN из дома", "koi8-r"),
            Message_ID=msgid("ru-vpn-2024"),
        ),
        "Здравствуйте!\n\nС утра не могу подключиться к VPN из дома, клиент пишет ошибку 809.\n"
        "Перезагрузка не помогла.\n\nС уважением,\nИван Петров\n",
        charset="koi8-r",
        cte="8bit",
        crlf=True,
    )
    simple(
        "dns-failure",
        headers(
            Date="Wed, 25 Nov 2026 08:31:00 +0100",
            From='"Stefan Braun" <stefan.braun@example.com>',
            To="helpdesk@example.com",
            Subject="intranet.example.com not resolving",
            Message_ID=msgid("dns-intranet-5"),
        ),
        "Morning,\n\nChrome shows DNS_PROBE_FINISHED_NXDOMAIN for intranet.example.com since\n"
        "about 8:15. nslookup from my PC times out against 10.0.0.53. Other sites work.\n"
        "Looks like a DNS problem on our side.\n\nStefan\n",
    )
    simple(
        "wifi-meeting-room",
        headers(
            Date="Wed, 25 Nov 2026 14:00:00 +0100",
            From='"Grace Kim" <grace.kim@example.com>',
            To="helpdesk@example.com",
            Subject="Wi-Fi in meeting room Rhein keeps dropping",
            Message_ID=msgid("wifi-rhein-3"),
        ),
        "Hi,\n\nthe WiFi in meeting room Rhein (building B) drops every few minutes,\n"
        "guests and our laptops alike. Other rooms are fine.\n\nGrace\n",
    )
    simple(
        "packet-loss",
        headers(
            Date="Thu, 26 Nov 2026 10:30:00 +0100",
            From='"Ahmed Hassan" <ahmed.hassan@example.com>',
            To="helpdesk@example.com",
            Subject="Heavy packet loss to Munich office",
            Message_ID=msgid("net-muc-loss-9"),
        ),
        "Hi,\n\nTeams calls with the Munich office keep freezing. A ping to muc-gw01 shows\n"
        "around 30% packet loss, traceroute attached below.\n\n"
        " 1  10.1.0.1   1 ms\n 2  10.255.0.9   18 ms\n 3  * * *\n 4  10.20.0.1  95 ms\n\nAhmed\n",
        crlf=True,
    )

    # --- L2: permissions, directory ----------------------------------------
    simple(
        "share-access-denied",
        headers(
            Date="Thu, 26 Nov 2026 09:12:00 +0100",
            From='"Laura Becker" <laura.becker@example.com>',
            To="helpdesk@example.com",
            Subject="Access denied on finance share",
            Message_ID=msgid("share-fin-17"),
        ),
        "Hello,\n\nwhen I open \\\\fs01\\finance\\2026\\Q4 I get \"Access is denied\".\n"
        "I moved from Controlling to Finance this month and need read/write access.\n\nLaura\n",
    )
    simple(
        "ad-group-membership",
        headers(
            Date="Thu, 26 Nov 2026 13:37:00 +0100",
            From='"Daniel Schmitt" <daniel.schmitt@example.com>',
            To="helpdesk@example.com",
            Subject="Add me to AD group SG-Finance-Reports",
            Message_ID=msgid("ad-group-23"),
        ),
        "Hi,\n\nplease add my account (dschmitt) to the Active Directory group\n"
        "SG-Finance-Reports so I can open the Power BI reports. My manager Ulla Krause\n"
        "is in CC and approves.\n\nThanks,\nDaniel\n",
    )
    write(
        "onboarding-multipart-alternative",
        [
            headers(
                Date="Fri, 27 Nov 2026 09:00:00 +0100",
                From='"HR Team" <hr@example.com>',
                To="helpdesk@example.com",
                Cc='"Ulla Krause" <ulla.krause@example.com>',
                Subject="New employee starting 1 December: accounts for Jana Novak",
                Message_ID=msgid("hr-onboard-1201"),
                MIME_Version="1.0",
                Content_Type='multipart/alternative; boundary="alt-b1"',
            ),
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
    write(
        "phishing-report-forwarded",
        [
            headers(
                Date="Thu, 26 Nov 2026 08:20:00 +0100",
                From='"Anna Schulz" <anna.schulz@example.com>',
                To="helpdesk@example.com",
                Subject="FW: Your mailbox is almost full - verify your account",
                Message_ID=msgid("fw-phish-777"),
                MIME_Version="1.0",
                Content_Type='multipart/mixed; boundary="fwd-777"',
            ),
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
        crlf=True,
    )
    simple(
        "ransomware-note",
        headers(
            Date="Fri, 27 Nov 2026 11:48:00 +0100",
            From='"Felix Wagner" <felix.wagner@example.com>',
            To="helpdesk@example.com",
            Subject="All my files renamed to .locked - strange text file on desktop",
            Message_ID=msgid("sec-ransom-1"),
        ),
        "HELP\n\nall files in my Documents folder and on the S: drive now end in .locked\n"
        "and there is a file README_RESTORE_FILES.txt on my desktop saying they are encrypted\n"
        "and I have to pay 2 Bitcoin for the key. It looks like a ransom note.\n"
        "I have not turned off the PC.\n\nFelix (ext. 4120)\n",
    )
    simple(
        "suspicious-login-alert",
        headers(
            Date="Fri, 27 Nov 2026 06:12:00 +0100",
            From='"Microsoft Entra ID" <security-noreply@example.com>',
            To="helpdesk@example.com",
            Subject="Unusual sign-in activity for j.doe@example.com",
            Message_ID=msgid("entra-alert-5512"),
        ),
        "We detected a suspicious login to the account j.doe@example.com.\n\n"
        "Country/region: Russia\nIP address: 185.220.101.47\nDate: 2026-11-27 05:58 UTC\n"
        "Platform: Linux\nBrowser: Firefox\n\nIf this wasn't the user, the account may be compromised.\n",
        crlf=True,
    )

    # --- L3: outages and defects -------------------------------------------
    simple(
        "production-down",
        headers(
            Date="Thu, 26 Nov 2026 14:05:00 +0100",
            From='"Ops Monitoring" <noc@example.com>',
            To="helpdesk@example.com",
            Subject="URGENT: production down - webshop returns 502",
            Message_ID=msgid("noc-prod-502"),
        ),
        "Production is down: https://shop.example.com returns 502 Bad Gateway for all\n"
        "customers since 13:58. Load balancer health checks fail on all four app nodes.\n"
        "Orders are not being taken.\n",
    )
    write(
        "vendor-defect-0x80070005",
        [
            headers(
                Date="Wed, 25 Nov 2026 10:00:00 +0100",
                From='"Bernd Keller" <bernd.keller@example.com>',
                To="helpdesk@example.com",
                Subject="Backup agent fails with 0x80070005 after vendor update",
                Message_ID=msgid("backup-defect-3"),
                MIME_Version="1.0",
                Content_Type='multipart/mixed; boundary="b-log-3"',
            ),
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
    )

    # --- adjustments: VIP, after hours -------------------------------------
    simple(
        "vip-ceo-outlook",
        headers(
            Date="Fri, 27 Nov 2026 10:20:00 +0100",
            From='"Eva Schneider" <ceo@example.com>',
            To="helpdesk@example.com",
            Subject="Outlook on my iPad stopped syncing",
            Message_ID=msgid("ceo-ipad-1"),
        ),
        "Hi,\n\nOutlook on my iPad has not synced any new mail since this morning.\n"
        "I need it for the board meeting at 14:00.\n\nEva\n\nSent from my iPad\n",
    )
    simple(
        "after-hours-outage",
        headers(
            Date="Tue, 24 Nov 2026 23:30:00 +0100",
            From='"Night Shift Lead" <shift.lead@example.com>',
            To="helpdesk@example.com",
            Subject="ERP not reachable for all users - night shift blocked",
            Message_ID=msgid("night-erp-down"),
        ),
        "Hello,\n\nsince 23:10 SAP ERP is not reachable for all users in the warehouse.\n"
        "Outage affects picking and shipping, the trucks are waiting.\n\nNight shift lead\n",
        crlf=True,
    )

    # --- mail that must not become a ticket --------------------------------
    simple(
        "auto-reply",
        headers(
            Date="Tue, 24 Nov 2026 10:12:05 +0100",
            From='"Mark Evans" <mark.evans@example.com>',
            To="helpdesk@example.com",
            Subject="Auto: Re: [#48190] Printer on 3rd floor keeps jamming",
            Message_ID=msgid("autoreply-99"),
            Auto_Submitted="auto-replied",
            Precedence="auto_reply",
        ),
        "I am out of the office until 30 November with no access to e-mail.\n"
        "For urgent printer issues please call the front desk.\n",
    )
    simple(
        "out-of-office-outlook",
        headers(
            Date="Wed, 25 Nov 2026 09:00:30 +0100",
            From='"Schulz, Anna" <anna.schulz@example.com>',
            To='"IT Helpdesk" <helpdesk@example.com>',
            Subject="Automatic reply: Your password expires in 3 days",
            Message_ID="<DB9PR04MB8412E1F2A3B4C5D6@DB9PR04MB8412.eurprd04.prod.outlook.com>",
            X_Auto_Response_Suppress="All",
            X_MS_Exchange_Inbox_Rules_Loop="anna.schulz@example.com",
            Thread_Topic="Your password expires in 3 days",
        ),
        "Thank you for your message. I am on parental leave until January and will\n"
        "not read e-mail. For urgent matters please contact finance@example.com.\n",
        crlf=True,
    )
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
    simple(
        "newsletter-list",
        headers(
            Date="Mon, 23 Nov 2026 07:00:00 +0100",
            From='"IT News" <it-news@lists.example.com>',
            To="it-news@lists.example.com",
            Subject="[IT News] November: new VPN client rollout and phishing awareness week",
            Message_ID=msgid("itnews-2026-11"),
            List_Id='"IT News" <it-news.lists.example.com>',
            List_Unsubscribe="<mailto:it-news-unsubscribe@lists.example.com>",
            Precedence="list",
        ),
        "This month: the new VPN client rolls out to all laptops, and phishing\n"
        "awareness week starts on 30 November. Outage window for the file servers:\n"
        "Saturday 05:00-07:00.\n",
        crlf=True,
    )
    simple(
        "ticket-reply-subject",
        headers(
            Date="Wed, 25 Nov 2026 09:10:00 +0100",
            From='"Hannah Lee" <hannah.lee@example.com>',
            To="helpdesk@example.com",
            Subject="Re: [#48213] VPN keeps disconnecting when working from home",
            Message_ID=msgid("vpn-home-49"),
            In_Reply_To="<ticket.48213.1764000000@helpdesk.example.com>",
            References="<vpn-home-48@mail.example.com> <ticket.48213.1764000000@helpdesk.example.com>",
        ),
        "Hi,\n\nthe new client version did not help, the VPN still drops.\n\nHannah\n\n"
        "> We have updated your VPN profile, please try again.\n",
    )
    simple(
        "ticket-reply-in-reply-to",
        headers(
            Date="Wed, 25 Nov 2026 11:45:00 +0100",
            From='"Tom Baker" <tom.baker@example.com>',
            To="helpdesk@example.com",
            Subject="Re: your request",
            Message_ID=msgid("pw-en-followup"),
            In_Reply_To="<ticket.48220.1764061000@helpdesk.example.com>",
            References="<ticket.48220.1764061000@helpdesk.example.com>",
        ),
        "Thanks, the new password works. You can close the ticket.\n\nTom\n",
    )

    format_examples()


def mime_mail(name, date, frm, subject, mid, content_type, parts, to="helpdesk@example.com", **extra):
    """A MIME mail of the given parts, CRLF line ends; extra headers go
    before Content-Type."""
    hdr = headers(Date=date, From=frm, To=to, Subject=subject, Message_ID=msgid(mid), MIME_Version="1.0",
                  **extra, Content_Type=content_type)
    write(name, [hdr] + parts, crlf=True)


def format_examples():
    """Mail in the formats besides plain MIME: an inline-forwarded phishing
    report (Outlook), an Exchange bounce, PGP/MIME encrypted mail, a
    meeting-room invitation, a winmail.dat, and a signature logo."""
    simple(
        "phishing-forwarded-inline-outlook",
        headers(
            Date="Fri, 27 Nov 2026 08:05:00 +0100",
            From='"Jonas Berg" <jonas.berg@example.com>',
            To="helpdesk@example.com",
            Subject="FW: Action required: your mailbox quota",
            Message_ID=msgid("fw-inline-phish-12"),
        ),
        "Hi, is this phishing? The link goes somewhere odd.\n\nJonas\n\n"
        "________________________________\n"
        "From: IT Service Desk <it-desk@example-mailbox.info>\n"
        "Sent: Friday, November 27, 2026 7:41 AM\n"
        "To: Jonas Berg <jonas.berg@example.com>\n"
        "Subject: Action required: your mailbox quota\n\n"
        "Your mailbox is full. Sign in within 24 hours to keep receiving mail.\n",
    )
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
