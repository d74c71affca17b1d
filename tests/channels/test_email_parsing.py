"""Reading Inbound Parse posts and threading helpers, without a server."""

from __future__ import annotations

import pytest

from channels.email.inbound import (
    MAX_ATTACHMENT_BYTES,
    InboundEmail,
    MalformedEmail,
    html_to_text,
    parse_form,
    parse_inbound,
    strip_reply,
)
from channels.email.webhook import approval_of
from models.email_threads import (
    assist_number,
    assist_subject,
    message_ids,
    reply_subject,
    reply_token,
    thread_references,
    token_hash,
    token_of,
    tokens_in,
)
from tests.channels.email_payloads import DATA, eml, form, inbound_parse, simple_email

TO = "reply+abcdefghijklmnopqrstuvwxyz@in.demo.example"
GMAIL_REPLY = (
    "Thanks, that fixed it! The refund shows on my card now \u2014 one more thing: could you "
    "send the invoice for order #5521 as well?"
)
OUTLOOK_REPLY = (
    "Hallo,\n\ndie R\u00fcckerstattung ist leider noch nicht angekommen. Anbei der Kontoauszug "
    "\u2013 bitte pr\u00fcfen Sie das noch einmal."
)
JAPANESE_REPLY = (
    "\u3042\u308a\u304c\u3068\u3046\u3054\u3056\u3044\u307e\u3059\u3002\u307e\u3060\u8377\u7269"
    "\u304c\u5c4a\u3044\u3066\u3044\u307e\u305b\u3093\u3002\u8ffd\u8de1\u756a\u53f7\u3092\u6559"
    "\u3048\u3066\u3044\u305f\u3060\u3051\u307e\u3059\u304b\uff1f"
)
CASES = [
    (
        "gmail_reply.eml",
        "Jane Doe",
        "jane.doe@gmail.com",
        "utf-8",
        "Re: [A-1042] Refund",
        GMAIL_REPLY,
    ),
    (
        "outlook_reply_windows1252.eml",
        "J\u00fcrgen M\u00fcller",
        "juergen.mueller@example.de",
        "windows-1252",
        "AW: [A-1042] Ihre R\u00fcckerstattung",
        OUTLOOK_REPLY,
    ),
    (
        "japanese_reply_shift_jis.eml",
        "\u5c71\u7530\u592a\u90ce",
        "taro@example.jp",
        "shift_jis",
        "Re: [A-1043] \u914d\u9001\u306b\u3064\u3044\u3066",
        JAPANESE_REPLY,
    ),
]


def _parse(post_body: bytes, content_type: str) -> InboundEmail:
    return parse_inbound(parse_form(content_type, post_body))


@pytest.mark.parametrize("raw", [False, True], ids=["parsed", "raw"])
@pytest.mark.parametrize(("fixture", "name", "address", "charset", "subject", "reply"), CASES)
def test_real_format_replies_are_read_in_both_modes(
    fixture: str, name: str, address: str, charset: str, subject: str, reply: str, raw: bool
) -> None:
    email_bytes = eml(
        fixture,
        sender=address.upper() if "gmail" in fixture else address,
        sender_name=name,
        charset=charset,
        to=TO,
        subject=subject,
        message_id="<m-1@mail.example>",
        in_reply_to="<sb.2@in.demo.example>",
        references=["<sb.1@in.demo.example>", "<sb.2@in.demo.example>"],
    )
    post = inbound_parse(email_bytes, envelope_to=[TO], raw=raw)

    mail = _parse(post.body, post.content_type)

    assert (mail.from_name, mail.from_address) == (name, address)  # addresses lower-cased
    assert mail.subject == subject
    assert mail.reply_text == reply  # quoted history and signature cut
    assert reply in mail.text and len(mail.text) > len(reply)  # the whole body is kept
    assert mail.message_id == "<m-1@mail.example>"
    assert mail.in_reply_to == "<sb.2@in.demo.example>"
    assert mail.thread_ids == ["<sb.2@in.demo.example>", "<sb.1@in.demo.example>"]
    assert mail.thread_key == "<sb.1@in.demo.example>"
    assert mail.envelope_to == (TO,)
    assert mail.spf == "pass" and mail.authenticated is True
    assert mail.raw_mode is raw


@pytest.mark.parametrize("raw", [False, True], ids=["parsed", "raw"])
def test_attachments_are_kept_with_their_bytes(raw: bool) -> None:
    email_bytes = eml(
        "outlook_reply_windows1252.eml",
        sender="juergen.mueller@example.de",
        to=TO,
        subject="AW: x",
        message_id="<m-2@mail.example>",
    )
    mail = _parse(*_post(inbound_parse(email_bytes, envelope_to=[TO], raw=raw)))

    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("Kontoauszug.pdf", "application/pdf")
    ]
    assert mail.attachments[0].data == (DATA / "kontoauszug.pdf").read_bytes()


def _post(post: object) -> tuple[bytes, str]:
    return post.body, post.content_type  # type: ignore[attr-defined]


def test_parsed_mode_fields_follow_the_charsets_field_and_limits() -> None:
    latin = "Caf\u00e9 cr\u00e8me, s'il vous pla\u00eet".encode("iso-8859-1")
    big = b"\0" * (MAX_ATTACHMENT_BYTES + 1)
    post = form(
        [
            ("headers", b"Message-ID: <x-1@mail.example>\r\nSubject: =?UTF-8?Q?Caf=C3=A9?=\r\n"),
            ("from", "Ren\u00e9 <rene@example.fr>".encode("iso-8859-1")),
            ("text", latin),
            ("envelope", b'{"to":["help@in.demo.example"],"from":"rene@example.fr"}'),
            ("charsets", b'{"text":"iso-8859-1","from":"iso-8859-1","subject":"UTF-8"}'),
            ("dkim", b"{@example.fr : pass, @mailer.example : fail}"),
            ("SPF", b"softfail"),
            ("attachments", b"2"),
            ("attachment-info", b'{"attachment2":{"filename":"big.bin","type":"application/x"}}'),
        ],
        [
            ("attachment1", "note.txt", "text/plain", b"small"),
            ("attachment2", "big.bin", "application/x", big),
        ],
    )

    mail = _parse(post.body, post.content_type)

    assert mail.text == "Caf\u00e9 cr\u00e8me, s'il vous pla\u00eet"
    assert mail.from_name == "Ren\u00e9" and mail.subject == "Caf\u00e9"
    assert mail.dkim == (("example.fr", "pass"), ("mailer.example", "fail"))
    assert mail.authenticated is True  # DKIM of the From domain passed, SPF aside
    assert [a.filename for a in mail.attachments] == ["note.txt"]
    assert mail.skipped[0].startswith("big.bin")


def test_authentication_needs_the_from_domain() -> None:
    def mail(spf: str, dkim: str, envelope_from: str) -> InboundEmail:
        raw = simple_email(
            sender="olivia@demo.example", to=TO, subject="x", text="hi", message_id="<a@b.c>"
        )
        post = inbound_parse(raw, envelope_to=[TO], spf=spf, dkim=dkim, envelope_from=envelope_from)
        return _parse(post.body, post.content_type)

    assert mail("pass", "none", "bounce@demo.example").authenticated is True
    assert mail("pass", "none", "bounce@evil.example").authenticated is False
    assert mail("fail", "{@evil.example : pass}", "x@evil.example").authenticated is False
    assert mail("fail", "{@mail.demo.example : pass}", "x@evil.example").authenticated is True
    assert mail("softfail", "none", "olivia@demo.example").authenticated is False


def test_without_a_message_id_the_dedupe_key_is_a_hash_of_the_message() -> None:
    fields = [("from", b"a@b.example"), ("text", b"hello"), ("subject", b"hi")]
    one = _parse(*_post(form(fields)))
    same = _parse(*_post(form(fields)))
    other = _parse(*_post(form([*fields[:1], ("text", b"hello!"), fields[2]])))

    assert one.message_id is None
    assert one.external_id.startswith("sha256:") and one.external_id == same.external_id
    assert other.external_id != one.external_id


def test_auto_replies_are_recognised() -> None:
    raw = simple_email(
        sender="jane@mail.example",
        to=TO,
        subject="Out of office",
        text="I am away until Monday.",
        message_id="<ooo@mail.example>",
        extra_headers={"Auto-Submitted": "auto-replied"},
    )
    assert _parse(*_post(inbound_parse(raw, envelope_to=[TO]))).auto_submitted is True


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"--xYzZY--\r\n",
        b"\xff\xfe\x00garbage",
        b'--xYzZY\r\nContent-Disposition: form-data; name="from"\r\n\r\n\r\n--xYzZY--\r\n',
        b'--xYzZY\r\nContent-Disposition: form-data; name="email"\r\n\r\nnot an email\r\n--xYzZY--',
    ],
)
def test_unreadable_posts_raise_malformed_email(body: bytes) -> None:
    with pytest.raises(MalformedEmail):
        parse_inbound(parse_form("multipart/form-data; boundary=xYzZY", body))


def test_strip_reply_keeps_text_that_is_only_a_quote() -> None:
    assert strip_reply("> quoted only\n> more") == "> quoted only\n> more"
    assert strip_reply("Yes please.\n\n-----Original Message-----\nFrom: x\nSent: y\n\nold") == (
        "Yes please."
    )
    assert strip_reply("Sure!\n\nSent from my iPhone") == "Sure!"
    assert strip_reply("") == ""


def test_html_only_emails_become_readable_text() -> None:
    html = "<html><style>p{}</style><body><p>Hello&nbsp;<b>there</b></p><div>Line 2</div></body>"
    assert html_to_text(html) == "Hello there\n\nLine 2"


# ---------------------------------------------------------------------------- threads


def test_reply_tokens_and_addresses() -> None:
    token = reply_token(b"k" * 32, "record-1")
    assert token == reply_token(b"k" * 32, "record-1") != reply_token(b"k" * 32, "record-2")
    assert len(token) == 26 and token != reply_token(b"j" * 32, "record-1")
    address = f"Reply+{token.upper()}@In.Demo.Example"
    assert token_of(address, "in.demo.example") == token
    assert token_of(address, "other.example") is None
    assert token_of(f"reply+{token}x@in.demo.example", "in.demo.example") is None
    assert token_of(f"help+{token}@in.demo.example", "in.demo.example") is None
    assert tokens_in([address, "help@in.demo.example", address], "in.demo.example") == [token]
    assert token_hash(token.upper()) == token_hash(token)


def test_message_ids_subjects_and_references() -> None:
    assert message_ids("<a@x> <b@y>\r\n <a@x>") == ["<a@x>", "<b@y>"]
    assert message_ids("bare@id.example") == ["<bare@id.example>"]
    assert message_ids("no id here") == []
    assert reply_subject("RE: AW: Re[2]: Refund") == "Re: Refund"
    assert reply_subject("Refund") == "Re: Refund"
    assert assist_number("Re: [a-1042] refund") == 1042
    assert assist_subject(1042, "Re: [A-1042] refund") == "Re: [A-1042] refund"
    assert assist_subject(1042, "Refund") == "[A-1042] Refund"
    chain = thread_references([f"<{n}@x>" for n in range(15)], "<new@x>")
    assert chain[0] == "<0@x>" and chain[-1] == "<new@x>" and len(chain) == 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve 4821", ("approve", "4821")),
        ("Approve #4821.\n\nOn Tue ... wrote:\n> x", ("approve", "4821")),
        ("yes 4821", ("approve", "4821")),
        ("reject 4821", ("reject", "4821")),
        ("please approve 4821", None),
        ("approve", None),
    ],
)
def test_approval_replies(text: str, expected: tuple[str, str] | None) -> None:
    assert approval_of(text) == expected
