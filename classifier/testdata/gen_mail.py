#!/usr/bin/env python3
"""Generates the sample mail in testdata/mail and testdata/mail/expect.json.

Text is encoded with Python's own codecs, independent of the Go decoder,
so the expectations (subject, body phrases, attachment names) are a real
check of the decoder and the goldens. Run from classifier/testdata:

    python3 gen_mail.py
"""

import base64
import json
import os
import quopri
import unicodedata
import urllib.parse

import gen_formats

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "mail")

# MIME label -> Python codec
CODECS = {
    "us-ascii": "ascii", "utf-8": "utf-8", "utf-16": "utf-16",
    "iso-8859-1": "iso8859_1", "iso-8859-2": "iso8859_2", "iso-8859-3": "iso8859_3",
    "iso-8859-4": "iso8859_4", "iso-8859-5": "iso8859_5", "iso-8859-6": "iso8859_6",
    "iso-8859-7": "iso8859_7", "iso-8859-8": "iso8859_8", "iso-8859-9": "iso8859_9",
    "iso-8859-10": "iso8859_10", "iso-8859-11": "iso8859_11", "iso-8859-13": "iso8859_13",
    "iso-8859-14": "iso8859_14", "iso-8859-15": "iso8859_15", "iso-8859-16": "iso8859_16",
    "windows-1250": "cp1250", "windows-1251": "cp1251", "windows-1252": "cp1252",
    "windows-1253": "cp1253", "windows-1254": "cp1254", "windows-1255": "cp1255",
    "windows-1256": "cp1256", "windows-1257": "cp1257", "windows-1258": "cp1258",
    "koi8-r": "koi8_r", "koi8-u": "koi8_u", "shift_jis": "shift_jis", "euc-jp": "euc_jp",
    "iso-2022-jp": "iso2022_jp", "euc-kr": "euc_kr", "gb2312": "gb2312", "gbk": "gbk",
    "gb18030": "gb18030", "big5": "big5",
}

VIET_TONES = "\u0300\u0301\u0303\u0309\u0323"


def enc(text, charset):
    """Encodes text in charset; windows-1258 gets Vietnamese tone marks as
    combining characters, the way that code page works."""
    codec = CODECS[charset]
    if charset != "windows-1258":
        return text.encode(codec)
    out = b""
    for ch in text:
        try:
            out += ch.encode(codec)
        except UnicodeEncodeError:
            d = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in d if c not in VIET_TONES))
            tones = "".join(c for c in d if c in VIET_TONES)
            out += base.encode(codec) + tones.encode(codec)
    return out


def chunks(text, charset, limit):
    """Splits text into pieces whose encoding is at most limit bytes,
    never inside a character."""
    pieces, cur = [], ""
    for ch in text:
        if cur and len(enc(cur + ch, charset)) > limit:
            pieces.append(cur)
            cur = ""
        cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def q_word(b):
    out = ""
    for c in b:
        ch = chr(c)
        if ch == " ":
            out += "_"
        elif ch.isalnum() and c < 128:
            out += ch
        else:
            out += "=%02X" % c
    return out


def ew(text, charset, mode="B"):
    """RFC 2047 encoded words, folded."""
    words = []
    for piece in chunks(text, charset, 30 if mode == "Q" else 42):
        b = enc(piece, charset)
        if mode == "B":
            words.append("=?%s?B?%s?=" % (charset, base64.b64encode(b).decode()))
        else:
            words.append("=?%s?Q?%s?=" % (charset, q_word(b)))
    return "\r\n ".join(words)


def rfc2231(param, text, charset, split=0):
    """An RFC 2231 parameter, optionally split into continuations."""
    b = enc(text, charset)
    pct = urllib.parse.quote_from_bytes(b, safe="")
    if not split:
        return "%s*=%s''%s" % (param, charset, pct)
    parts = [pct[i:i + split] for i in range(0, len(pct), split)]
    # never split a %XX escape
    fixed, carry = [], ""
    for p in parts:
        p = carry + p
        carry = ""
        cut = p.rfind("%")
        if cut >= len(p) - 2 and cut >= 0:
            p, carry = p[:cut], p[cut:]
        fixed.append(p)
    if carry:
        fixed[-1] += carry
    out = []
    for i, p in enumerate(fixed):
        prefix = "%s''" % charset if i == 0 else ""
        out.append("%s*%d*=%s%s" % (param, i, prefix, p))
    return ";\r\n ".join(out)


def qp(b):
    """Quoted-printable with CRLF line ends (b may use either)."""
    b = b.replace(b"\r\n", b"\n")
    return quopri.encodestring(b).decode("ascii").replace("\n", "\r\n")


def b64(b):
    return base64.encodebytes(b).decode("ascii").replace("\n", "\r\n")


def headers(subject, frm="Ann Example <ann@example.com>", to="helpdesk@example.com",
            date="Fri, 27 Nov 2026 09:14:03 +0100", msgid=None, extra=()):
    h = ["From: " + frm, "To: " + to, "Subject: " + subject]
    if date is not None:
        h.append("Date: " + date)
    if msgid is not False:
        h.append("Message-ID: " + (msgid or "<default@mail.example.com>"))
    h.extend(extra)
    return "\r\n".join(h) + "\r\n"


EXPECT = {}


def msgid(name):
    return "<%s.20261127@mail.example.com>" % name


def write(name, data, **expect):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(OUT, name + ".eml"), "wb") as f:
        f.write(data)
    EXPECT[name] = expect


# ---------------------------------------------------------------------------
# One mail per charset: encoded-word subject, body in QP or base64, an
# attachment whose file name is RFC 2231 encoded in the same charset.

CHARSET_SAMPLES = [
    ("us-ascii", "Printer on floor 3 is jammed again",
     "Hello,\nthe printer on floor 3 shows paper jam error 0x0000C5 again.\nThanks, Ann", "error.log"),
    ("utf-8", "Outlook stürzt ständig ab 😩",
     "Hallo,\nOutlook stürzt seit dem Update ständig ab. Fehler: 0x80070005.\nGrüße, Jörg", "Протокол_ошибки.txt"),
    ("utf-16", "Excel stürzt ab – 文件无法打开",
     "Excel öffnet die Datei nicht: 文件无法打开。", "bericht_größe.xlsx"),
    ("iso-8859-1", "Passwort zurücksetzen für Jörg",
     "Ich habe mein Passwort vergessen und bin gesperrt.\nGrüße, Jörg Müller", "Fehlermeldung_größe.txt"),
    ("iso-8859-2", "Nie mogę się zalogować do poczty",
     "Dzień dobry, od rana nie mogę się zalogować. Hasło nie działa.", "zrzut_ekranu_błąd.png"),
    ("iso-8859-3", "Il-printer ma jaħdimx",
     "Għandi problema bil-printer fl-uffiċċju tal-ħames sular.", "ħażna.txt"),
    ("iso-8859-4", "Neizdodas pieslēgties VPN",
     "Labdien, kopš rīta neizdodas pieslēgties VPN. Kļūda ir ekrānā.", "kļūda.log"),
    ("iso-8859-5", "Не работает принтер",
     "Здравствуйте, принтер на третьем этаже не печатает.", "ошибка.txt"),
    ("iso-8859-6", "لا أستطيع الدخول إلى البريد",
     "مرحبا، لا أستطيع الدخول إلى البريد منذ الصباح.", "خطأ.txt"),
    ("iso-8859-7", "Πρόβλημα με τον εκτυπωτή",
     "Καλημέρα, ο εκτυπωτής στον τρίτο όροφο δεν εκτυπώνει.", "σφάλμα.txt"),
    ("iso-8859-8", "בעיה עם המדפסת",
     "שלום, המדפסת בקומה השלישית לא מדפיסה.", "שגיאה.txt"),
    ("iso-8859-9", "Şifremi unuttum, hesabım kilitlendi",
     "Merhaba, şifremi unuttum ve hesabım kilitlendi. Yardım eder misiniz?", "hata_ekran_görüntüsü.png"),
    ("iso-8859-10", "Get ekki skráð mig inn á netfangið",
     "Góðan daginn, ég get ekki skráð mig inn. Þetta er brýnt.", "villuboð.txt"),
    ("iso-8859-11", "เครื่องพิมพ์เสีย",
     "สวัสดีครับ เครื่องพิมพ์ชั้นสามพิมพ์ไม่ได้", "ข้อผิดพลาด.txt"),
    ("iso-8859-13", "Neveikia spausdintuvas",
     "Laba diena, neveikia spausdintuvas ir el. paštas. Ačiū už pagalbą.", "klaidos_ataskaita_ąčęėįšųūž.txt"),
    ("iso-8859-14", "Mae'r argraffydd wedi torri",
     "Helô, mae'r argraffydd yn y swyddfa wedi torri. Diolch, Dŵr a Ŷ.", "gwall_ŵ.txt"),
    ("iso-8859-15", "Facture de 100 € : accès refusé",
     "Bonjour, l'accès à la facture de 100 € est refusé. Cœur brisé.", "reçu_œuvre_€.pdf"),
    ("iso-8859-16", "Nu pot să mă conectez la rețea",
     "Bună ziua, nu pot să mă conectez la rețea de azi dimineață.", "eroare_rețea.txt"),
    ("windows-1250", "Nefunguje mi tiskárna, prosím o pomoc",
     "Dobrý den, tiskárna hlásí „chyba papíru“. Děkuji.", "chyba_tiskárny.txt"),
    ("windows-1251", "Не работает VPN — срочно",
     "Добрый день! VPN не подключается — пишет «ошибка 809».", "журнал.log"),
    ("windows-1252", "“Outlook keeps crashing” – €5 licence",
     "Hi, Outlook keeps crashing when I open the “Invoices” folder… Regards, Zoë", "résumé_“draft”.docx"),
    ("windows-1253", "Δεν λειτουργεί το VPN",
     "Καλησπέρα, το VPN δεν λειτουργεί από το πρωί’ ευχαριστώ.", "αρχείο.txt"),
    ("windows-1254", "Yazıcı çalışmıyor",
     "Merhaba, “Yazıcı” çalışmıyor, kağıt sıkıştı.", "yazıcı_hatası.txt"),
    ("windows-1255", "הסיסמה שלי פגה",
     "שלום, הסיסמה שלי פגה ואני לא יכול להתחבר.", "סיסמה.txt"),
    ("windows-1256", "مشكلة في الطابعة",
     "مرحبا، الطابعة لا تعمل منذ الصباح.", "خطأ_الطباعة.txt"),
    ("windows-1257", "Ei saa e-posti kätte",
     "Tere, ei saa e-posti kätte, õige parool ei tööta. Šokk!", "viga_õ.txt"),
    ("windows-1258", "Không đăng nhập được vào máy tính",
     "Xin chào, tôi không đăng nhập được vào máy tính.", "lỗi.txt"),
    ("koi8-r", "Забыл пароль от почты",
     "Здравствуйте, я забыл пароль от почты. Помогите, пожалуйста.", "пароль.txt"),
    ("koi8-u", "Не працює принтер, допоможіть",
     "Добрий день, принтер не працює. Ґудзик їсть папір, є помилка.", "помилка_ґ.txt"),
    ("shift_jis", "パスワードを忘れました",
     "お疲れ様です。パスワードを忘れてしまいました。リセットをお願いします。", "エラー画面.png"),
    ("euc-jp", "プリンターが動きません",
     "三階のプリンターが動きません。確認をお願いします。", "ログ.txt"),
    ("iso-2022-jp", "VPNに接続できません",
     "自宅からVPNに接続できません。エラー番号は809です。", "接続エラー.txt"),
    ("euc-kr", "비밀번호를 잊어버렸습니다",
     "안녕하세요, 비밀번호를 잊어버렸습니다. 초기화 부탁드립니다.", "오류.txt"),
    ("gb2312", "打印机无法打印",
     "你好，三楼的打印机无法打印，请帮忙检查。", "错误日志.txt"),
    ("gbk", "张喆的邮箱无法登录",
     "你好，张喆的邮箱无法登录，请帮忙。", "截图.png"),
    ("gb18030", "𠮷野家的服务器宕机了",
     "服务器宕机了，𠮷野家的系统无法访问。", "日志.txt"),
    ("big5", "無法連線到伺服器",
     "您好，從早上開始無法連線到伺服器。", "錯誤.txt"),
]


def charset_mails():
    for i, (cs, subject, body, fname) in enumerate(CHARSET_SAMPLES):
        name = "charset-" + cs
        smode = "B" if i % 2 == 0 else "Q"
        body_b = enc(body.replace("\n", "\r\n"), cs)
        if cs == "utf-16" or i % 2 == 1:
            cte, body_enc = "base64", b64(body_b)
        else:
            cte, body_enc = "quoted-printable", qp(body_b)
        att = enc("log line 1\r\nlog line 2\r\n", "utf-8")
        split = 24 if i % 3 == 0 else 0
        from_name = ew("Ann Ü. Example", "iso-8859-1", "Q") if cs == "us-ascii" else "Ann Example"
        subj = subject if cs == "us-ascii" else ew(subject, cs, smode)
        raw = headers(subj, frm="%s <ann@example.com>" % from_name, msgid=msgid(name),
                      extra=["MIME-Version: 1.0",
                             'Content-Type: multipart/mixed; boundary="=_b_%d"' % i])
        raw += "\r\nThis is a multi-part message in MIME format.\r\n"
        raw += "--=_b_%d\r\n" % i
        raw += 'Content-Type: text/plain; charset="%s"\r\n' % cs
        raw += "Content-Transfer-Encoding: %s\r\n\r\n" % cte
        raw += body_enc
        if not raw.endswith("\r\n"):
            raw += "\r\n"
        raw += "--=_b_%d\r\n" % i
        raw += "Content-Type: application/octet-stream\r\n"
        raw += "Content-Disposition: attachment;\r\n %s\r\n" % rfc2231("filename", fname, cs, split)
        raw += "Content-Transfer-Encoding: base64\r\n\r\n"
        raw += b64(att)
        # A second inline text part after the attachment, in the other
        # transfer encoding: it is appended to the body.
        sig = enc("-- \r\n" + subject + "\r\n", cs)
        cte2 = "quoted-printable" if cte == "base64" and cs != "utf-16" else "base64"
        raw += "--=_b_%d\r\n" % i
        raw += 'Content-Type: text/plain; charset=%s\r\n' % cs
        raw += "Content-Disposition: inline\r\n"
        raw += "Content-Transfer-Encoding: %s\r\n\r\n" % cte2
        raw += qp(sig) if cte2 == "quoted-printable" else b64(sig)
        if not raw.endswith("\r\n"):
            raw += "\r\n"
        raw += "--=_b_%d--\r\n" % i
        want_body = unicodedata.normalize("NFC", body + "\n\n-- \n" + subject)
        write(name, raw, subject=subject, **{"from": "ann@example.com"},
              body=[want_body], attachments=[unicodedata.normalize("NFC", fname)])


# ---------------------------------------------------------------------------
# Scenario mails.

def scenario_mails():
    # HTML only, with everything a converter must drop or keep.
    html = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SECRET TITLE</title>
<style>p { color: red } .x { display:none }</style>
<script>var stolen = "SCRIPTTEXT";</script></head>
<body><!-- HIDDENCOMMENT -->
<h1>VPN disconnects</h1>
<p>Hello&nbsp;team,<br>my VPN   disconnects
every 5&nbsp;minutes &amp; I lose my session.</p>
<ul><li>Windows 11</li><li>Client version 5.1</li></ul>
<p>See <a href="https://status.example.com/vpn">the status page</a> &mdash; it says &quot;OK&quot; &euro;&#8364;.</p>
<table><tr><td>User</td><td>ann</td></tr><tr><td>Site</td><td>Berlin</td></tr></table>
<p>Thanks,<br>Ann</p>
</body></html>"""
    raw = headers("VPN disconnects every 5 minutes", msgid=msgid("html-only"),
                  extra=["MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8",
                         "Content-Transfer-Encoding: quoted-printable"])
    raw += "\r\n" + qp(html.replace("\n", "\r\n").encode())
    write("html-only", raw, subject="VPN disconnects every 5 minutes", **{"from": "ann@example.com"},
          body=["Hello team,\nmy VPN disconnects every 5 minutes & I lose my session.", "- Windows 11",
                "See the status page — it says \"OK\" €€.", "User ann"],
          body_excludes=["SECRET TITLE", "SCRIPTTEXT", "HIDDENCOMMENT", "color: red", "<p>", "&amp;", "https://status"],
          attachments=[])

    # multipart/alternative: the plain part wins.
    raw = headers("Mail setup on new phone", frm="Bob <bob@example.org>", msgid=msgid("alternative"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="alt1"'])
    raw += "\r\n--alt1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    raw += "PLAINVERSION: How do I set up mail on my new iPhone?\r\n"
    raw += "--alt1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    raw += "<p>HTMLVERSION: How do I set up mail on my new <b>iPhone</b>?</p>\r\n--alt1--\r\n"
    write("alternative", raw, subject="Mail setup on new phone", **{"from": "bob@example.org"},
          body=["PLAINVERSION: How do I set up mail on my new iPhone?"], body_excludes=["HTMLVERSION"], attachments=[])

    # alternative whose HTML branch is multipart/related with an inline image
    # and comes first; the plain part still wins.
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
    raw = headers("Screenshot of the error", msgid=msgid("alternative-related"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="outer"'])
    raw += "\r\n--outer\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n"
    raw += "--rel\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>HTMLBRANCH <img src=\"cid:img1\" alt=\"error dialog\"></p>\r\n"
    raw += "--rel\r\nContent-Type: image/png; name=\"screenshot.png\"\r\nContent-ID: <img1>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    raw += b64(png) + "--rel--\r\n"
    raw += "--outer\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nPLAINBRANCH The error dialog is attached.\r\n--outer--\r\n"
    write("alternative-related", raw, subject="Screenshot of the error", **{"from": "ann@example.com"},
          body=["PLAINBRANCH The error dialog is attached."], body_excludes=["HTMLBRANCH"],
          attachments=["screenshot.png"])

    # mixed: text, PDF, text/plain log attachment, then a trailing inline text.
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    raw = headers("Laptop will not boot - BitLocker recovery", frm="Carla <carla@example.com>",
                  msgid=msgid("mixed-attachments"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="mix"'])
    raw += "\r\n--mix\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    raw += "My laptop asks for a BitLocker recovery key after the BIOS update.\r\n"
    raw += "--mix\r\nContent-Type: application/pdf; name=\"Recovery screen.pdf\"\r\nContent-Disposition: attachment; filename=\"Recovery screen.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    raw += b64(pdf)
    raw += "--mix\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename=boot.log\r\n\r\n"
    raw += "BOOTLOG line one\r\nline two\r\n"
    raw += "--mix\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline\r\n\r\n-- \r\nSent from my phone, SIGNATURE\r\n--mix--\r\n"
    write("mixed-attachments", raw, subject="Laptop will not boot - BitLocker recovery", **{"from": "carla@example.com"},
          body=["BitLocker recovery key", "SIGNATURE"], body_excludes=["BOOTLOG"],
          attachments=["Recovery screen.pdf", "boot.log"], sizes={"Recovery screen.pdf": len(pdf)})

    # text/plain split by an attachment: both halves are the body.
    raw = headers("Two screenshots", msgid=msgid("split-text"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="sp"'])
    raw += "\r\n--sp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nFIRSTHALF here is the first one:\r\n"
    raw += "--sp\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=one.png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(png)
    raw += "--sp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSECONDHALF and the text after it.\r\n--sp--\r\n"
    write("split-text", raw, subject="Two screenshots", **{"from": "ann@example.com"},
          body=["FIRSTHALF", "SECONDHALF"], attachments=["one.png"])

    # forwarded message/rfc822: an attachment; its text and headers do not count.
    inner = ("From: Mallory <security-alert@paypa1.example.net>\r\nTo: ann@example.com\r\n"
             "Subject: Suspicious login attempt\r\nDate: Thu, 26 Nov 2026 22:01:00 +0000\r\n"
             "Auto-Submitted: auto-generated\r\nList-Id: <alerts.paypa1.example.net>\r\n"
             "Message-ID: <inner@paypa1.example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             "INNERTEXT Verify your account now or it will be closed.\r\n")
    raw = headers("Fwd: Suspicious login attempt", msgid=msgid("forwarded"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="fw"'])
    raw += "\r\n--fw\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOUTERTEXT Is this phishing? See the attached mail.\r\n"
    raw += "--fw\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n" + inner + "--fw--\r\n"
    write("forwarded", raw, subject="Fwd: Suspicious login attempt", **{"from": "ann@example.com"},
          body=["OUTERTEXT Is this phishing?"], body_excludes=["INNERTEXT"],
          attachments=["Suspicious login attempt.eml"], auto_reply=False, list=False)

    inner2 = "From: x@example.com\r\nTo: y@example.com\r\n\r\nNo subject here.\r\n"
    raw = headers("Fwd:", msgid=msgid("forwarded-nosubject"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="fw2"'])
    raw += "\r\n--fw2\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
    raw += "--fw2\r\nContent-Type: message/rfc822\r\n\r\n" + inner2 + "--fw2--\r\n"
    write("forwarded-nosubject", raw, subject="Fwd:", **{"from": "ann@example.com"},
          body=["See below."], attachments=["forwarded.eml"])

    # auto-replies, each kind
    def auto(name, subject, extra, want=True, frm="Dana <dana@example.com>"):
        raw = headers(subject, frm=frm, msgid=msgid(name),
                      extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"] + extra)
        raw += "\r\nI am out of the office until Monday.\r\n"
        write(name, raw, auto_reply=want, body=["out of the office"], attachments=[])

    auto("autoreply-rfc3834", "Re: Printer", ["Auto-Submitted: auto-replied (vacation)"])
    auto("autoreply-x-autoreply", "Re: Printer", ["X-Autoreply: yes"])
    auto("autoreply-x-autorespond", "Re: Printer", ["X-Autorespond: Re: Printer"])
    auto("autoreply-precedence", "Re: Printer", ["Precedence: auto_reply"])
    auto("autoreply-outlook", "Automatic reply: Printer broken", ["X-Auto-Response-Suppress: All"])
    auto("autoreply-outlook-german", ew("Abwesenheitsnotiz: Drucker defekt", "iso-8859-1", "Q"),
         ["X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply"])
    auto("autoreply-outlook-japanese", ew("自動応答: プリンター", "iso-2022-jp", "B"),
         ["X-Auto-Response-Suppress: All"])
    auto("autoreply-outlook-french", ew("Réponse automatique : imprimante", "utf-8", "Q"),
         ["X-Auto-Response-Suppress: All"])
    auto("not-autoreply-meeting", "Accepted: Printer review", ["X-Auto-Response-Suppress: RN, NRN, OOF"], want=False)
    auto("not-autoreply-submitted-no", "Printer", ["Auto-Submitted: no"], want=False)

    # bounces
    raw = headers("Undelivered Mail Returned to Sender", frm="MAILER-DAEMON@mx.example.com (Mail Delivery System)",
                  msgid=msgid("bounce-dsn"),
                  extra=["Auto-Submitted: auto-replied", "MIME-Version: 1.0",
                         'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="dsn"'])
    raw += "\r\n--dsn\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    raw += "This is the mail system at host mx.example.com.\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n"
    raw += "--dsn\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
    raw += "Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; nobody@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    raw += "--dsn\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    raw += "From: ann@example.com\r\nTo: nobody@example.net\r\nSubject: Printer\r\n"
    raw += "--dsn--\r\n"
    write("bounce-dsn", raw, subject="Undelivered Mail Returned to Sender", **{"from": "mailer-daemon@mx.example.com"},
          bounce=True, auto_reply=True, body=["could not"], attachments=[], bounce_recipients=["nobody@example.net"],
          bounce_status="5.1.1")

    raw = headers("Delivery Status Notification (Failure)", frm="postmaster@example.net", msgid=msgid("bounce-postmaster"),
                  extra=["Content-Type: text/plain; charset=us-ascii"])
    raw += "\r\nDelivery to the following recipient failed permanently: nobody@example.net\r\n"
    write("bounce-postmaster", raw, **{"from": "postmaster@example.net"}, bounce=True, auto_reply=False,
          body=["failed permanently"], attachments=[])

    # list mail
    raw = headers("[it-announce] Maintenance window Saturday", frm="IT News <news@lists.example.com>",
                  msgid=msgid("list-id"),
                  extra=["List-Id: IT announcements <it-announce.lists.example.com>",
                         "List-Unsubscribe: <mailto:leave@lists.example.com>", "Content-Type: text/plain"])
    raw += "\r\nThe mail servers will be down on Saturday 02:00-04:00.\r\n"
    write("list-id", raw, list=True, body=["mail servers will be down"], attachments=[])

    raw = headers("Newsletter November", frm="Vendor <news@vendor.example>", msgid=msgid("list-precedence"),
                  extra=["Precedence: bulk", "Content-Type: text/plain"])
    raw += "\r\nOur new products.\r\n"
    write("list-precedence", raw, list=True, body=["new products"], attachments=[])

    # ticket replies
    raw = headers("Re: [#4711] Drucker im 3. OG", msgid=msgid("ticket-subject"),
                  extra=["In-Reply-To: <ticket.4711.1@helpdesk.example.com>", "Content-Type: text/plain; charset=utf-8",
                         "Content-Transfer-Encoding: 8bit"])
    raw += "\r\nDanke, der Drucker geht wieder.\r\n\r\n> Wir haben den Toner getauscht.\r\n"
    write("ticket-subject", raw, ticket_ref="4711", body=["Drucker geht wieder"], attachments=[])

    raw = headers("Re: your request", msgid=msgid("ticket-references"),
                  extra=["In-Reply-To: <CAF+other@mail.example.com>",
                         "References: <first@mail.example.com>\r\n <ticket.4712.abc@helpdesk.example.com>\r\n <CAF+other@mail.example.com>",
                         "Content-Type: text/plain"])
    raw += "\r\nStill not working.\r\n"
    write("ticket-references", raw, ticket_ref="4712", body=["Still not working."], attachments=[])

    # phishing report, realistic
    raw = headers("Phishing? \"Your mailbox is full\" mail", frm="\"Müller, Jörg\" <J.Mueller@Example.COM>",
                  to="IT Helpdesk <helpdesk@example.com>", msgid=msgid("phishing"),
                  extra=["Cc: security@example.com", "Reply-To: jm@example.com", "MIME-Version: 1.0",
                         "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"])
    raw += "\r\n" + qp("Hallo,\r\nich habe eine Mail bekommen, die nach Phishing aussieht. Ich habe auf den Link geklickt und mein Passwort eingegeben.\r\nGrüße\r\nJörg".encode())
    write("phishing", raw, subject="Phishing? \"Your mailbox is full\" mail", **{"from": "j.mueller@example.com"},
          body=["nach Phishing aussieht"], attachments=[])

    # broken mail, each defect
    raw = headers("Header line without colon", msgid=msgid("broken-no-colon"),
                  extra=["this line has no colon", "Content-Type: text/plain; charset=utf-8"])
    raw += "\r\nBody survives.\r\n"
    write("broken-no-colon", raw, subject="Header line without colon", body=["Body survives."], defects=True, attachments=[])

    raw = headers("Unknown transfer encoding", msgid=msgid("broken-unknown-cte"),
                  extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: x-gzip64"])
    raw += "\r\nRAWTEXT is kept as it is.\r\n"
    write("broken-unknown-cte", raw, body=["RAWTEXT is kept"], defects=True, attachments=[])

    good = b64("Der Bildschirm bleibt schwarz, TRUNCATEDBASE64 bitte helfen. Vielen Dank für die schnelle Hilfe!".encode())
    cut = good.replace("\r\n", "")[:70]
    raw = headers("Truncated base64", msgid=msgid("broken-truncated-base64"),
                  extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"])
    raw += "\r\n" + cut + "\r\n"
    write("broken-truncated-base64", raw, body=["Der Bildschirm bleibt schwarz"], defects=True, attachments=[])

    raw = headers("Unterminated boundary", msgid=msgid("broken-unterminated"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="never"'])
    raw += "\r\n--never\r\nContent-Type: text/plain\r\n\r\nFIRSTPART complete.\r\n"
    raw += "--never\r\nContent-Type: text/plain\r\n\r\nSECONDPART cut off in the mid"
    write("broken-unterminated", raw, body=["FIRSTPART complete.", "SECONDPART cut off"], defects=True, attachments=[])

    raw = ("From: J\xf6rg M\xfcller <joerg@example.com>\r\nTo: helpdesk@example.com\r\n"
           "Subject: Dr\xfccker kaputt \x93sofort\x94\r\nDate: Fri, 27 Nov 2026 09:14:03 +0100\r\n"
           "Message-ID: <broken-8bit@mail.example.com>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"
           "Der Dr\xfccker ist kaputt.\r\n").encode("latin-1")
    write("broken-8bit-header", raw, subject="Drücker kaputt “sofort”", body=["Der Drücker ist kaputt."],
          defects=True, attachments=[])

    raw = headers("Drucker über WLAN — UTF-8 roh", frm="Jörg Müller <joerg@example.com>", msgid=msgid("raw-utf8-header"),
                  extra=["Content-Type: text/plain; charset=utf-8"])
    raw += "\r\nGrüße aus dem Büro.\r\n"
    write("raw-utf8-header", raw, subject="Drucker über WLAN — UTF-8 roh", body=["Grüße aus dem Büro."],
          defects=False, attachments=[])

    raw = (headers("Missing content type", msgid=msgid("broken-no-content-type"), extra=["MIME-Version: 1.0"])
           + "\r\nDas Ger\xe4t ist defekt.\r\n").encode("latin-1")
    write("broken-no-content-type", raw, body=["Das Gerät ist defekt."], defects=True, attachments=[])

    raw = (headers("Bad charset", msgid=msgid("broken-bad-charset"),
                   extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=x-klingon"])
           + "\r\nKein Zugriff auf das Laufwerk \xe4.\r\n").encode("latin-1")
    write("broken-bad-charset", raw, body=["Kein Zugriff auf das Laufwerk ä."], defects=True, attachments=[])

    raw = headers("No date", date=None, msgid=msgid("broken-no-date"), extra=["Content-Type: text/plain"])
    raw += "\r\nWhen was this sent?\r\n"
    write("broken-no-date", raw, body=["When was this sent?"], defects=True, attachments=[])

    raw = headers("Bad address", frm="Jane Doe jane.doe@example.com", msgid=msgid("broken-address"),
                  extra=["Content-Type: text/plain"])
    raw += "\r\nMy address header is broken.\r\n"
    write("broken-address", raw, **{"from": "jane.doe@example.com"}, body=["My address header"], defects=True, attachments=[])

    # nesting deeper than the default bound of 20
    depth = 25
    raw = headers("Deep nesting", msgid=msgid("broken-deep"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="d0"'])
    raw += "\r\n--d0\r\nContent-Type: text/plain\r\n\r\nSHALLOWTEXT\r\n"
    for i in range(1, depth):
        raw += '--d%d\r\nContent-Type: multipart/mixed; boundary="d%d"\r\n\r\n' % (i - 1, i)
    raw += "--d%d\r\nContent-Type: text/plain\r\n\r\nDEEPTEXT\r\n--d%d--\r\n" % (depth - 1, depth - 1)
    for i in range(depth - 2, -1, -1):
        raw += "--d%d--\r\n" % i
    write("broken-deep", raw, body=["SHALLOWTEXT"], body_excludes=["DEEPTEXT"], defects=True, attachments=[])

    # RFC 2231 continuations in UTF-8, and Outlook's encoded word in quotes
    raw = headers("Two file names", msgid=msgid("filenames"),
                  extra=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="fn"'])
    raw += "\r\n--fn\r\nContent-Type: text/plain\r\n\r\nSee attachments.\r\n"
    raw += "--fn\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;\r\n %s\r\nContent-Transfer-Encoding: base64\r\n\r\n" % rfc2231(
        "filename", "Prüfbericht – Serverraum 3 (final).pdf", "utf-8", 20) + b64(pdf)
    raw += '--fn\r\nContent-Type: application/pdf; name="=?iso-8859-1?Q?Rechnung_M=E4rz.pdf?="\r\nContent-Disposition: attachment; filename="=?iso-8859-1?Q?Rechnung_M=E4rz.pdf?="\r\nContent-Transfer-Encoding: base64\r\n\r\n' + b64(pdf)
    raw += '--fn\r\nContent-Type: text/plain; name="../../etc/passwd"\r\nContent-Disposition: attachment; filename="../../etc/passwd"\r\n\r\nroot:x:0:0\r\n'
    raw += "--fn--\r\n"
    write("filenames", raw, body=["See attachments."],
          attachments=["Prüfbericht – Serverraum 3 (final).pdf", "Rechnung März.pdf", "passwd"])

    # a UTF-8 character split across two encoded words (seen from some mailers)
    word = "Zugriff verweigert für Jörg".encode()
    i = word.index("ö".encode()) + 1  # inside the two-byte ö
    subj = "=?utf-8?B?%s?=\r\n =?utf-8?B?%s?=" % (base64.b64encode(word[:i]).decode(), base64.b64encode(word[i:]).decode())
    raw = headers(subj, msgid=msgid("split-encoded-word"), extra=["Content-Type: text/plain"])
    raw += "\r\nAccess denied.\r\n"
    write("split-encoded-word", raw, subject="Zugriff verweigert für Jörg", body=["Access denied."], attachments=[])

    # format=flowed as Thunderbird writes it: paragraphs wrapped with soft
    # breaks (trailing space), a space-stuffed "From", a quoted flowed
    # paragraph and a signature.
    body = ("Hello,\r\n\r\n"
            "since this morning the shared drive on fs01 reports that the disk \r\n"
            "is full and nobody in accounting can save invoices.\r\n"
            " From my desk I cannot reach it at all.\r\n\r\n"
            "> Did you try to reconnect the drive? It usually helps when the \r\n"
            "> mapping is stale.\r\n\r\n"
            "Yes, twice.\r\n\r\n"
            "-- \r\nAnn Example\r\n")
    raw = headers("Shared drive full", msgid=msgid("flowed"),
                  extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=UTF-8; format=flowed",
                         "Content-Transfer-Encoding: 7bit"])
    raw += "\r\n" + body
    write("flowed", raw, subject="Shared drive full", **{"from": "ann@example.com"},
          body=["the disk is full and nobody in accounting", "\nFrom my desk I cannot",
                "> Did you try to reconnect the drive? It usually helps when the mapping is stale.",
                "\n-- \nAnn Example"],
          body_excludes=["disk \nis", "the \nmapping", " From my desk"],
          attachments=[])

    # format=flowed; delsp=yes as Apple Mail writes it, quoted-printable:
    # the space before each soft break is not part of the text.
    body = ("Der Drucker im 3. OG zeigt seit gestern den Fehler 0x0000 \r\n"
            "0BCB und druckt nicht mehr. Neustart hat nicht gehol \r\n"
            "fen.\r\n\r\nGrüße\r\nJörg\r\n")
    raw = headers("=?utf-8?q?Drucker_3=2E_OG_druckt_nicht?=", frm="=?utf-8?q?J=C3=B6rg?= <joerg@example.de>",
                  msgid=msgid("flowed-delsp"),
                  extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes",
                         "Content-Transfer-Encoding: quoted-printable"])
    raw += "\r\n" + qp(body.encode())
    write("flowed-delsp", raw, subject="Drucker 3. OG druckt nicht", **{"from": "joerg@example.de"},
          body=["den Fehler 0x00000BCB und druckt", "Neustart hat nicht geholfen.", "Grüße\nJörg"],
          body_excludes=["0x0000 ", "gehol fen"],
          attachments=[])

    # no header at all
    write("unparseable-binary", bytes(range(256)) * 4 + b"\x00\x01garbage without any header", error="unparseable")


def main():
    os.makedirs(OUT, exist_ok=True)
    charset_mails()
    scenario_mails()
    gen_formats.format_mails(write, headers, msgid)
    with open(os.path.join(OUT, "expect.json"), "w", encoding="utf-8") as f:
        json.dump(EXPECT, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
