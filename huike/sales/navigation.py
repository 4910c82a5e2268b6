from huike.core.navigation import register_nav


def register_sales_nav() -> None:
    # Main: Leads 30, Deals 32, Tasks 34, Orders 36, Reports 38.
    # Settings: lead pool and web forms 80, scoring 81, assignment 82, pipelines 83,
    # products 84, targets 85.
    register_nav()
