from ninja import Router

router = Router(tags=["Pipelines and deals"])
