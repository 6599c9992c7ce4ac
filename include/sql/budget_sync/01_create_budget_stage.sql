-- The file's normalised rows for this import, private to the transaction. `line` is the
-- row's position in the rows handed to the import (the gate's verdict names rows by it).
create temporary table budget_stage (
    department text not null,
    sub_category text,
    fiscal_period text not null,
    budgeted_amount numeric(18, 2) not null,
    currency text not null,
    line int not null
) on commit drop
