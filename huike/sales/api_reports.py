from ninja import Router

router = Router(tags=["Funnel and forecast"])
