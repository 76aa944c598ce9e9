from datetime import timedelta

from campaign_manager.campaigns.models import CampaignStatus, Delivery, DeliveryStatus
from campaign_manager.core.db import utcnow
from tests.schedulers.campaign_kit import add_contact, email_campaign


def test_dashboard_shows_what_needs_people_and_what_comes_next(client, db, users):
    kit = email_campaign(
        db, created_by_id=users["marketer"].id, run_at=utcnow() + timedelta(days=2)
    )
    contact = add_contact(db, "someone@example.org")
    db.add(
        Delivery(
            step_id=kit.step.id,
            occurrence="once",
            recipient_key=f"contact:{contact.id}",
            contact_id=contact.id,
            channel_account_id=kit.account_id,
            status=DeliveryStatus.UNCERTAIN,
            next_attempt_at=utcnow(),
        )
    )
    db.commit()
    assert kit.campaign.status is CampaignStatus.APPROVED
    client.login("viewer@example.org")
    page = client.get("/").get_data(as_text=True)
    assert "1 uncertain delivery to check" in page
    assert "Email wave" in page and "Collision careers" in page  # the upcoming step
    assert "<dt>Contacts</dt><dd>1</dd>" in page
