from ninja import Router

router = Router(tags=["Lead scoring"])
