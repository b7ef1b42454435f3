{#-
    The path of a committed reference file (data/reference/<file_name>) as a SQL string literal,
    for DuckDB's read_csv. The folder is the dbt var reference_dir when given, else
    OMS_REFERENCE_DIR (pipelines/project.py resolves it), else the repository's data/reference
    beside this dbt project: never a path relative to the working folder.
-#}
{% macro reference_csv(file_name) -%}
    {%- set project_dir = invocation_args_dict.get('project_dir') or '.' -%}
    {%- set folder = var('reference_dir', none)
        or env_var('OMS_REFERENCE_DIR', '')
        or project_dir ~ '/../data/reference' -%}
    '{{ (folder.rstrip('/') ~ '/' ~ file_name) | replace("'", "''") }}'
{%- endmacro %}
