"""A faithful local Lytics API (collect, account, entity, profile merge), for tries and tests."""
