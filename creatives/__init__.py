"""Creatives: the asset library, brand kits, and email, social, web and print creatives.

What the delivery engine (and any other caller) uses, all plain functions taking a Session:

- versions.freeze_current_version(session, creative_id) -> CreativeVersion
    Freeze the newest version (on campaign approval); record its `id` on deliveries.
    Saving an edit later (editing.save_variant) makes a new draft version instead.
- email.render_email(session, version_id, variant_key, context) -> RenderedEmail
    subject/html/text for one recipient; `variant_key` is the segment slug ("" default);
    `context` must hold unsubscribe_url, preferences_url and postal_address.
- social.render_social(session, version_id, network) -> SocialPost
    text (with the link where the network needs it), link, media (SocialMedia: data,
    mime, alt_text, width, height). Validation per network happens on save.
- landing.render_landing_page(session, version_or_slug, utm) -> str
  landing.publish_landing_page(session, creative_id, at=None) -> CreativeVersion
- printing.render_print_pdf(session, version_id, *, profile=None, variant_keys=None,
      crop_marks=False, pdf_variant=None, cmyk=None, one_file=True) -> list[PrintFile]
  printing.preflight(session, version_id, *, profile=None, variant_keys=None, cmyk=None,
      pdf_variant=None) -> list[PreflightProblem]
  printing.proof_png(session, version_id, *, profile=None, variant_key=None) -> bytes

`creatives` never imports `audiences`: segment variants are keyed by the segment's slug.
"""
