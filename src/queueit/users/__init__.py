"""Users: profiles provisioned from verified tokens, their provider and storefront."""
