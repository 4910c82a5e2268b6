from ninja import Router

router = Router(tags=["Products and orders"])
