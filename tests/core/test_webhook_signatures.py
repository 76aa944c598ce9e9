import hashlib
import hmac

from campaign_manager.core.security import sign_webhook, verify_webhook_signature

SECRET = "whsec-6f1c2d9a8b7e4f30"
BODY = b'{"id":"delivery-1","type":"message"}'
T = 1_718_035_200


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_verify_accepts_a_fresh_signature_and_rejects_tampering():
    header = sign_webhook(SECRET, T, BODY)

    assert verify_webhook_signature(SECRET, BODY, header, now=T + 10)
    assert not verify_webhook_signature(SECRET, BODY + b" ", header, now=T + 10)
    assert not verify_webhook_signature("another-secret", BODY, header, now=T + 10)
    # Moving the signature to another time does not verify either.
    forged = header.replace(f"t={T}", f"t={T + 5}")
    assert not verify_webhook_signature(SECRET, BODY, forged, now=T + 10)


def test_verify_rejects_old_and_future_timestamps():
    header = sign_webhook(SECRET, T, BODY)

    assert verify_webhook_signature(SECRET, BODY, header, now=T + 300)
    assert not verify_webhook_signature(SECRET, BODY, header, now=T + 301)
    assert not verify_webhook_signature(SECRET, BODY, header, now=T - 301)
    assert verify_webhook_signature(SECRET, BODY, header, now=T + 3000, tolerance_seconds=3600)


def test_verify_accepts_any_of_several_signatures_during_a_rotation():
    old = sign_webhook("old-secret-value", T, BODY).split(",")[1]
    header = sign_webhook(SECRET, T, BODY) + "," + old

    assert verify_webhook_signature(SECRET, BODY, header, now=T)
    assert verify_webhook_signature("old-secret-value", BODY, header, now=T)


def test_verify_rejects_malformed_headers():
    for header in ("", "v1=abc", f"t={T}", "t=soon,v1=abc", "garbage"):
        assert not verify_webhook_signature(SECRET, BODY, header, now=T)
