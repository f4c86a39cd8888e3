{#- One row per distinct response body (raw.bodies): the exact bytes of every body a
    capture refers to, once. -#}
with

source as (
    select * from {{ source('raw', 'bodies') }}
),

final as (
    select
        sha256,
        byte_length,
        body_text,
        body_bytes is not null as is_binary,
        stored_at
    from source
)

select * from final
